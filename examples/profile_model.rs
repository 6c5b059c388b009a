//! Where tract spends a model's time, node by node (issue 12's "find where tract loses").
//! `cargo run --release --example profile_model -- MODEL.onnx H W [RUNS]`
//! Prints the optimised graph's nodes by total time, then the time per op kind.
use std::collections::HashMap;
use std::time::Instant;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::plan::{eval, SimplePlan, SimpleState};

fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let path = &args[1];
    let (h, w): (usize, usize) = (args[2].parse()?, args[3].parse()?);
    let runs: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(50);
    if let Some(n) = std::env::var("PROFILE_THREADS").ok().and_then(|s| s.parse().ok()) {
        tract_linalg::multithread::set_default_executor(tract_linalg::multithread::Executor::multithread(n));
    }
    let mut model = tract_onnx::onnx().model_for_path(path)?;
    model = model.with_input_fact(0, f32::fact([1, h, w, 3]).into())?;
    let inputs = model.input_outlets()?.len();
    for i in 1..inputs {
        let n = model
            .input_fact(i)?
            .shape
            .as_concrete_finite()?
            .map(|s| s.to_vec())
            .unwrap_or(vec![1, 49]);
        model = model.with_input_fact(i, f32::fact(n).into())?;
    }
    let typed = model.into_optimized()?;
    let plan = SimplePlan::new(typed)?;
    let mut feeds: TVec<TValue> = tvec!();
    for i in 0..inputs {
        let shape = plan.model().input_fact(i)?.shape.as_concrete().unwrap().to_vec();
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n).map(|k| ((k * 7919) % 1000) as f32 / 1000.0).collect();
        feeds.push(Tensor::from_shape(&shape, &data)?.into());
    }
    let mut per_node: HashMap<usize, f64> = HashMap::new();
    let mut state = SimpleState::new(&plan)?;
    for _ in 0..5 {
        state.run(feeds.clone())?;
    }
    let t0 = Instant::now();
    for _ in 0..runs {
        state.run_plan_with_eval(feeds.clone(), |ctx, st, node, input| {
            let t = Instant::now();
            let r = eval(ctx, st, node, input);
            *per_node.entry(node.id).or_default() += t.elapsed().as_secs_f64() * 1e3;
            r
        })?;
    }
    let total = t0.elapsed().as_secs_f64() * 1e3 / runs as f64;
    let model = plan.model();
    let mut rows: Vec<(usize, f64)> = per_node.into_iter().map(|(k, v)| (k, v / runs as f64)).collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    let sum: f64 = rows.iter().map(|r| r.1).sum();
    println!(
        "{path}: {total:.3} ms/run wall, {sum:.3} ms in nodes, {} nodes",
        model.nodes().len()
    );
    let mut by_op: HashMap<String, (f64, usize)> = HashMap::new();
    for (id, ms) in &rows {
        let node = model.node(*id);
        let e = by_op.entry(node.op().name().to_string()).or_default();
        e.0 += ms;
        e.1 += 1;
    }
    let mut ops: Vec<_> = by_op.into_iter().collect();
    ops.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0));
    for (op, (ms, n)) in &ops {
        println!("  {op:<24} {n:>4} nodes {ms:>8.3} ms {:>5.1}%", 100.0 * ms / sum);
    }
    if std::env::var("ORDER").is_ok() {
        // The optimised graph in evaluation order, to see what sits between two nodes.
        for id in plan.order_without_consts() {
            let node = model.node(*id);
            let shape = model
                .outlet_fact(OutletId::new(*id, 0))
                .map(|f| format!("{:?}", f.shape))
                .unwrap_or_default();
            let inputs: Vec<usize> = node.inputs.iter().map(|i| i.node).collect();
            println!("  #{id:<4} {:<20} {shape} <- {inputs:?}", node.op().name());
        }
    }
    let top: usize = std::env::var("TOP").ok().and_then(|s| s.parse().ok()).unwrap_or(15);
    for (id, ms) in rows.iter().take(top) {
        let node = model.node(*id);
        let shape = model
            .outlet_fact(OutletId::new(*id, 0))
            .map(|f| format!("{:?}", f.shape))
            .unwrap_or_default();
        println!(
            "  {ms:>7.3} ms  #{id:<4} {:<20} {shape} {}",
            node.op().name(),
            node.op().info().unwrap_or_default().join(" | ")
        );
    }
    Ok(())
}
