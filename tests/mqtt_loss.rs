//! Zero loss, measured: ≥ 1000 QoS 1 assessments while the broker is paused (SIGSTOP), then
//! killed and restarted, and while the daemon itself is killed (SIGKILL) and restarted. Every
//! message id the daemon issued must reach a subscriber at least once. Prints counts, duplicates,
//! replays and the outbox's high-water mark.

mod common;
use common::broker::{free_port, Broker, DaemonProcess, Subscriber};
use std::collections::BTreeMap;
use std::time::Duration;

fn ids(sub: &Subscriber) -> BTreeMap<u64, u32> {
    let mut seen = BTreeMap::new();
    for leaf in ["assessment", "exam"] {
        for m in sub.on(leaf) {
            if let Some(id) = m["msg_id"].as_u64() {
                *seen.entry(id).or_insert(0) += 1;
            }
        }
    }
    seen
}

#[test]
fn no_assessment_is_lost_when_broker_or_daemon_die() {
    let dir = common::tmp("mqtt-loss");
    let mut broker = Broker::start(
        &dir.join("broker"),
        free_port(),
        "max_queued_messages 0\nmax_inflight_messages 0\n",
    );
    let sub = Subscriber::connect(broker.port, "loss-subscriber");
    let cfg = dir.join("cdposture.toml");
    std::fs::write(
        &cfg,
        format!(
            "[room]\nid = \"r1\"\n[source]\nloop = true\ndemo_fps = 60\n[pipeline]\npose_every = 5\n\
             [mqtt]\nhost = \"127.0.0.1\"\nport = {}\nstate_interval_s = 1\nassessment_interval_s = 0.001\n\
             stats_interval_s = 1\nkeep_alive_s = 2\n[outbox]\ndir = \"{}\"\n",
            broker.port,
            dir.join("outbox").display()
        ),
    )
    .unwrap();
    let distinct = |s: &Subscriber| ids(s).len();

    let d1 = DaemonProcess::start(&cfg, &["--exam", "loss"], &[]);
    sub.wait_for(120, "200 assessments", |s| distinct(s) >= 200);
    println!("phase 1: {} ids before the broker is paused", distinct(&sub));

    broker.pause();
    std::thread::sleep(Duration::from_secs(4));
    broker.kill();
    std::thread::sleep(Duration::from_secs(1));
    broker.restart();
    sub.wait_for(180, "600 ids after the broker came back", |s| distinct(s) >= 600);
    println!(
        "phase 2: {} ids after pause + kill + restart of the broker",
        distinct(&sub)
    );

    d1.signal("-KILL");
    drop(d1);
    let mut d2 = DaemonProcess::start(&cfg, &[], &[]);
    sub.wait_for(180, "1100 ids after the daemon restart", |s| distinct(s) >= 1100);
    assert!(d2.stop().success(), "{}", d2.log());
    sub.wait_for(20, "stopped", |s| {
        s.on("available").last().is_some_and(|v| v == "stopped")
    });

    let seen = ids(&sub);
    // Ids are consecutive from the first one issued: the exam's `new` event, sent first.
    let first = sub
        .on("exam")
        .iter()
        .find(|e| e["type"] == "new" && e["exam_id"] == "loss")
        .and_then(|e| e["msg_id"].as_u64())
        .expect("the exam's new event arrived");
    let max = *seen.keys().next_back().unwrap();
    assert_eq!(seen.keys().next().copied(), Some(first), "nothing before the first id");
    let missing: Vec<u64> = (first..=max).filter(|i| !seen.contains_key(i)).collect();
    let issued = max - first + 1;
    let duplicates: u32 = seen.values().map(|c| c - 1).sum();
    let replayed = ["assessment", "exam"]
        .iter()
        .flat_map(|l| sub.on(l))
        .filter(|m| m["replayed"] == true)
        .count();
    let high_water = sub
        .on("stats")
        .iter()
        .filter_map(|s| s["mqtt"]["outbox_high_water"].as_u64())
        .max()
        .unwrap_or(0);
    let reconnects = sub
        .on("stats")
        .iter()
        .filter_map(|s| s["mqtt"]["reconnects"].as_u64())
        .max()
        .unwrap_or(0);
    let left = std::fs::read_dir(dir.join("outbox"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "msg"))
        .count();
    println!(
        "loss test: issued {issued} durable messages (ids {first}..={max}), received {} distinct, missing {}, duplicates {duplicates}, \
         replayed copies {replayed}, outbox high-water {high_water}, reconnects {reconnects}, left in outbox {left}",
        seen.len(),
        missing.len()
    );
    assert!(issued >= 1000);
    assert!(
        missing.is_empty(),
        "lost message ids: {:?}",
        &missing[..missing.len().min(20)]
    );
    assert_eq!(left, 0, "a clean stop drains the outbox");
}
