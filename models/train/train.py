"""Train the posture model on rendered avatars (PyTorch, CPU).

Reads the shards written by extract.sh (labels, our own models' measurements, the product's posture
crops) and trains one of three variants, so they can be compared on the same validation items:

  features  an MLP on the body model's points (image points in crop units, world points)
  crop      a small CNN on the 128-px posture crop
  both      the CNN with the points joined before its head (the candidate for the product)

Outputs (relative to the trunk, our conventions): head yaw, pitch, roll (deg), lateral and sagittal
shift (shoulder widths), shoulder elevation (deg); each with a Laplace scale b (uncertainty, trained
by the Laplace negative log-likelihood beside a squared-error loss on the means, so b ~ expected |error|).

Writes OUT/weights.npz (float32 arrays named like the layers, batch norm folded into the convs),
OUT/config.json (everything needed to rebuild and to explain the run), OUT/golden.npz (inputs and
outputs of the trained model for the product's test) and OUT/report.txt. export_onnx.py turns the
npz into ONNX without needing torch's exporter. Resumable: a checkpoint per epoch (OUT/ckpt.pt).
"""
import argparse
import csv
import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

# Output order is the model's contract with src/landmarks/posture_net.rs.
# The first six are relative to the trunk; the last three are the trunk's own yaw, pitch and roll
# seen from the camera (labels.csv): the trunk frame cannot get its yaw from BlazePose's depth (it
# follows the head), its pitch holds the camera's elevation, and its roll a sideways lean that the
# shoulder line cannot tell from a raised shoulder.
TARGETS = ["true_yaw_deg", "true_pitch_deg", "true_roll_deg", "true_lateral_shift_sw",
           "true_sagittal_shift_sw", "true_shoulder_elevation_deg", "trunk_yaw_deg",
           "trunk_pitch_deg", "trunk_roll_deg"]
# Targets are divided by these before the loss, so each weighs about the same.
SCALES = np.array([30.0, 15.0, 15.0, 0.1, 0.1, 5.0, 15.0, 8.0, 5.0], dtype=np.float32)
# Mirroring the image left-right flips the sign of these targets (yaw, roll, lateral, elevation,
# trunk yaw, trunk roll).
MIRROR_SIGN = np.array([-1, 1, -1, -1, 1, -1, -1, 1, -1], dtype=np.float32)
CACHE_VERSION = "4"  # 4: trunk roll relative to the turned crop (crop_roll)

# Body model points fed to the model, as BlazePose names them (features.csv: pose_<name>_x ...).
POINTS = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder"]
MIRROR_POINTS = [0, 2, 1, 4, 3, 6, 5]  # left <-> right
CROP_SIDE_IN_SHOULDER_WIDTHS = 2.2  # src/landmarks/posture_crop.rs
N_FEATURES = len(POINTS) * 7  # per point: x, y, z (crop units), visibility, world x, y, z (m)


def crop_frame(row):
    """The crop's centre and side from the body points, exactly as posture_crop.rs cuts it."""
    p = lambda n, a: float(row[f"pose_{n}_{a}"])
    lx, ly, rx, ry = p("left_shoulder", "x"), p("left_shoulder", "y"), p("right_shoulder", "x"), p("right_shoulder", "y")
    hx = (p("nose", "x") + p("left_ear", "x") + p("right_ear", "x")) / 3
    hy = (p("nose", "y") + p("left_ear", "y") + p("right_ear", "y")) / 3
    cx, cy = 0.25 * (lx + rx) + 0.5 * hx, 0.25 * (ly + ry) + 0.5 * hy
    return cx, cy, CROP_SIDE_IN_SHOULDER_WIDTHS * math.hypot(lx - rx, ly - ry)


def features(row):
    """Per point: image x, y, z in crop units (centre 0, side 1), visibility, world x, y, z in m.
    Image and world x, y in the axes of the crop as the product cut it: turned by `crop_roll`
    (degrees; features.csv since 2026-12-07, absent or empty = upright), as `features` in
    src/landmarks/posture_net.rs."""
    cx, cy, side = crop_frame(row)
    roll = math.radians(float(row.get("crop_roll") or 0.0))
    s, c = math.sin(roll), math.cos(roll)
    along_crop = lambda x, y: (c * x + s * y, c * y - s * x)
    out = []
    for n in POINTS:
        g = lambda a: float(row[f"pose_{n}_{a}"])
        x, y = along_crop(g("x") - cx, g("y") - cy)
        wx, wy = along_crop(g("wx"), g("wy"))
        out += [x / side, y / side, g("z") / side, g("vis"), wx, wy, g("wz")]
    return out


def load_shards(root, cache, head=False):
    """All rows with a crop: uint8 crops [N,128,128,3], features [N,F], targets [N,9], item names,
    and with `head` the head crops [N,112,112,3] (rows without one are left out), else None."""
    crops, heads, feats, ys, names = [], [], [], [], []
    for shard in sorted(Path(root).glob("shard_*")):
        fpath = shard / "features.csv"
        if not fpath.exists():
            continue
        version = CACHE_VERSION + ("-head" if head else "")
        key = hashlib.sha256(fpath.read_bytes() + version.encode()).hexdigest()[:16]
        cpath = Path(cache) / f"{shard.name}-{key}.npz"
        if not cpath.exists():
            rows = list(csv.DictReader(open(fpath, newline="")))
            labels = list(csv.DictReader(open(shard / "labels.csv", newline="")))
            c, h, f, y, n = [], [], [], [], []
            for k, (row, lab) in enumerate(zip(rows, labels)):
                assert os.path.basename(row["item"]) == os.path.basename(lab["image"]), (shard, k)
                row = lab | row
                img, himg = shard / "crops" / f"{k:06d}.png", shard / "crops" / f"{k:06d}_head.png"
                if not img.exists() or row["pose_found"] not in ("1", "true") or (head and not himg.exists()):
                    continue
                c.append(np.asarray(Image.open(img).convert("RGB"), dtype=np.uint8))
                if head:
                    h.append(np.asarray(Image.open(himg).convert("RGB"), dtype=np.uint8))
                f.append(features(row))
                y.append([float(row[t]) for t in TARGETS])
                # The crop was cut turned by crop_roll: the model reads the trunk's roll in it, and
                # the product adds crop_roll back (PostureNet::run).
                y[-1][TARGETS.index("trunk_roll_deg")] -= float(row.get("crop_roll") or 0.0)
                n.append(os.path.basename(row["item"]))
            if head and not h:
                raise SystemExit(f"{shard}: no head crops (extract again: eval-postures --crops writes <row>_head.png)")
            os.makedirs(cache, exist_ok=True)
            extra = {"heads": np.stack(h)} if head else {}
            np.savez(str(cpath) + ".tmp.npz", crops=np.stack(c), feats=np.array(f, np.float32),
                     ys=np.array(y, np.float32), names=np.array(n), **extra)
            os.replace(str(cpath) + ".tmp.npz", cpath)
        d = np.load(cpath)
        crops.append(d["crops"])
        if head:
            heads.append(d["heads"])
        feats.append(d["feats"])
        ys.append(d["ys"])
        names += [str(n) for n in d["names"]]
        print(f"{shard.name}: {len(d['ys'])} rows with a crop", flush=True)
    return (np.concatenate(crops), np.concatenate(heads) if head else None, np.concatenate(feats),
            np.concatenate(ys), names)


def is_validation(name, share):
    """Items go to validation by a hash of their name: stable as the training set grows."""
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) / 2**32 < share


def conv_bn(cin, cout, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


def tower(w):
    """Five stride-2 stages (two with a second convolution), then global pooling in forward."""
    return nn.Sequential(
        conv_bn(3, w[0], 2), conv_bn(w[0], w[1], 2), conv_bn(w[1], w[2], 2),
        conv_bn(w[2], w[3], 2), conv_bn(w[3], w[3], 1), conv_bn(w[3], w[4], 2), conv_bn(w[4], w[4], 1),
    )


class PostureNet(nn.Module):
    """Plain 3x3 convolutions (tract runs them well; no depthwise), global pooling, a small head."""

    def __init__(self, variant, widths, head_widths=None):
        super().__init__()
        self.variant = variant
        w = widths
        self.convs = tower(w) if variant != "features" else None
        # A second tower on the head crop (--head-widths): the head at ~2x the body crop's scale.
        self.head_convs = tower(head_widths) if head_widths else None
        n_img = (w[4] if variant != "features" else 0) + (head_widths[4] if head_widths else 0)
        n_feat = 64 if variant != "crop" else 0
        self.feat = nn.Sequential(nn.Linear(N_FEATURES, 64), nn.ReLU()) if n_feat else None
        # Standardises the points (the crop-unit offsets that carry yaw are ~0.05); folded into
        # the first layer when saved.
        self.register_buffer("feat_mean", torch.zeros(N_FEATURES))
        self.register_buffer("feat_std", torch.ones(N_FEATURES))
        self.head = nn.Sequential(nn.Linear(n_img + n_feat, 128), nn.ReLU(), nn.Linear(128, 2 * len(TARGETS)))

    def forward(self, crop, feat, head=None):
        parts = []
        if self.convs is not None:
            parts.append(self.convs(crop).mean(dim=(2, 3)))
        if self.head_convs is not None:
            parts.append(self.head_convs(head).mean(dim=(2, 3)))
        if self.feat is not None:
            code = self.feat((feat - self.feat_mean) / self.feat_std)
            if self.training and self.convs is not None:
                # Modality dropout: the points alone give a rough yaw quickly, and the network
                # then learned the image slowly (epoch 3: yaw 16.3 vs 12.7 from the image alone).
                keep = (torch.rand(code.shape[0], 1) >= 0.5).float()
                code = code * keep
            parts.append(code)
        return self.head(torch.cat(parts, dim=1))


def augment(crop, feat, y, gen, head=None):
    """Camera-like changes on a batch (float crops [B,3,H,W] in 0..1); labels follow the mirror.
    Mild on purpose: twice these ranges (exposure 0.6-1.4, jitter 6 %, boxes up to 32 px on a
    quarter of the batch) slowed learning so much that 9 epochs reached yaw 12.0 instead of 9.7.
    A head crop (same pictures) is mirrored with its body crop, jittered on its own (its centre
    comes from other landmarks) and gets the same exposure, colour, contrast, gamma and blur; its
    random numbers are drawn after the body crop's, so a run without one draws what it always did."""
    b = crop.shape[0]
    u = lambda *s: torch.rand(*s, generator=gen)
    # Mirror half the batch: image, points (x negated, left/right swapped) and signed targets.
    m = u(b) < 0.5
    crop = torch.where(m[:, None, None, None], crop.flip(3), crop)
    fm = feat.view(b, len(POINTS), 7)[:, MIRROR_POINTS].clone()
    fm[:, :, 0] *= -1
    fm[:, :, 4] *= -1  # world x
    feat = torch.where(m[:, None], fm.view(b, -1), feat)
    y = torch.where(m[:, None], y * torch.from_numpy(MIRROR_SIGN), y)
    # Crop jitter, as landmark noise would move it: shift and scale the crop and its points alike.
    s = 1 + 0.06 * (u(b) - 0.5)
    t = 0.03 * (u(b, 2) - 0.5)
    crop = shift_and_scale(crop, s, t)
    fv = feat.view(b, len(POINTS), 7).clone()
    fv[:, :, 0] = (fv[:, :, 0] - t[:, None, 0]) / s[:, None]
    fv[:, :, 1] = (fv[:, :, 1] - t[:, None, 1]) / s[:, None]
    fv[:, :, 2] = fv[:, :, 2] / s[:, None]
    feat = fv.view(b, -1)
    # Point noise, ~1 px in a 300-px crop (more would hide a tilt: 0.01 blurred the eye line by ~15°).
    feat = feat + 0.002 * torch.randn(feat.shape, generator=gen) * torch.tensor([1, 1, 1, 0, 1, 1, 1.0]).repeat(len(POINTS))
    # Exposure, contrast, colour cast, gamma; blur on a fifth.
    look = {"exposure": 0.8 + 0.4 * u(b, 1, 1, 1), "cast": 0.95 + 0.1 * u(b, 3, 1, 1),
            "contrast": 0.85 + 0.3 * u(b, 1, 1, 1), "gamma": 0.85 + 0.3 * u(b, 1, 1, 1)}
    crop = photometric(crop, look)
    blur = (u(b) < 0.2)[:, None, None, None]
    crop = torch.where(blur, blurred(crop), crop)
    crop = sensor_noise_and_occlusion(crop, u, gen, 18)
    if head is None:
        return crop, feat, y, None
    head = torch.where(m[:, None, None, None], head.flip(3), head)
    head = shift_and_scale(head, 1 + 0.1 * (u(b) - 0.5), 0.06 * (u(b, 2) - 0.5))
    head = torch.where(blur, blurred(photometric(head, look)), photometric(head, look))
    return crop, feat, y, sensor_noise_and_occlusion(head, u, gen, 30)


def shift_and_scale(x, s, t):
    theta = torch.zeros(x.shape[0], 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = s, s
    theta[:, :, 2] = 2 * t
    grid = F.affine_grid(theta, x.shape, align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def photometric(x, look):
    x = x * look["exposure"] * look["cast"]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * look["contrast"] + mean
    return x.clamp(0, 1) ** look["gamma"]


def blurred(x):
    k = torch.tensor([1.0, 2.0, 1.0])
    k = (k[:, None] * k[None, :] / 16).expand(3, 1, 3, 3)
    return F.conv2d(x, k, padding=1, groups=3)


def sensor_noise_and_occlusion(x, u, gen, box):
    """Sensor noise on all; one small grey box (a hand, hair) of up to `box` px on a tenth."""
    b = x.shape[0]
    x = x + 0.02 * u(b, 1, 1, 1) * torch.randn(x.shape, generator=gen)
    for i in torch.nonzero(u(b) < 0.1).flatten().tolist():
        h, w = int(6 + (box - 6) * u(1)), int(6 + (box - 6) * u(1))
        y0, x0 = int(u(1) * (x.shape[2] - h)), int(u(1) * (x.shape[3] - w))
        x[i, :, y0:y0 + h, x0:x0 + w] = u(1)
    return x.clamp(0, 1)


def loss_fn(out, y):
    """Squared error on the means, plus the Laplace NLL of the scales with the means held. Tried
    first: L1 (and the plain Laplace NLL) on the means. With most targets zero on most items
    (postures are often single-axis), L1's constant pull toward the median kept the network at
    the median for 10+ epochs (val roll MAE = the median predictor's); squared error learns."""
    mu, log_b = out[:, : len(TARGETS)], out[:, len(TARGETS):].clamp(-6, 6)
    err = torch.abs(y - mu)
    return (err ** 2 + err.detach() * torch.exp(-log_b) + log_b).mean()


def as_input(x, j):
    """uint8 NHWC rows j → float NCHW in 0..1 (None stays None)."""
    return None if x is None else torch.from_numpy(x[j]).permute(0, 3, 1, 2).float() / 255


def evaluate(net, crops, feats, ys, idx, bs=256, heads=None):
    net.eval()
    outs = []
    with torch.no_grad():
        for k in range(0, len(idx), bs):
            j = idx[k:k + bs]
            c = torch.from_numpy(crops[j]).permute(0, 3, 1, 2).float() / 255
            outs.append(net(c, torch.from_numpy(feats[j]), as_input(heads, j)).numpy())
    out = np.concatenate(outs)
    mu = out[:, : len(TARGETS)] * SCALES
    b = np.exp(np.clip(out[:, len(TARGETS):], -6, 6)) * SCALES
    return mu, b


def metrics(mu, b, y):
    lines = []
    for k, t in enumerate(TARGETS):
        e = mu[:, k] - y[:, k]
        r = np.corrcoef(mu[:, k], y[:, k])[0, 1]
        slope = np.polyfit(y[:, k], mu[:, k], 1)[0]
        lines.append(f"{t.removeprefix('true_'):<22} MAE {np.mean(np.abs(e)):7.3f}  r {r:.3f}  slope {slope:.3f}  "
                     f"mean b {np.mean(b[:, k]):.3f}  r(|e|,b) {np.corrcoef(np.abs(e), b[:, k])[0, 1]:.2f}")
    ay = np.abs(y[:, 0])
    for lo in range(0, 90, 15):
        sel = (ay >= lo) & (ay < lo + 15)
        if sel.any():
            lines.append(f"yaw |{lo:2d}-{lo + 15:2d}|  n {sel.sum():4d}  MAE {np.mean(np.abs(mu[sel, 0] - y[sel, 0])):.2f}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="extract.sh's OUT (shard_NNN folders)")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--variant", choices=["features", "crop", "both"], default="both")
    ap.add_argument("--widths", default="16,32,64,96,128")
    ap.add_argument("--head-widths", default="", help="a second tower on the head crops (<row>_head.png, "
                    "eval-postures --crops), e.g. 16,32,48,64,96; empty: the body crop alone")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--val-share", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--init", type=Path, help="start from this run's ckpt.pt (same variant and widths; "
                    "outputs it lacks start fresh): a longer run on more renders without starting over")
    ap.add_argument("--init-export", type=Path, help="start from an exported model's arrays "
                    "(onnx_weights.py on models/trained/posture_net.onnx), when its run's ckpt.pt is gone")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    a.out.mkdir(parents=True, exist_ok=True)
    cache = os.path.expanduser("~/.cache/cdposture/train-cache")
    head_widths = [int(x) for x in a.head_widths.split(",")] if a.head_widths else None
    crops, heads, feats, ys, names = load_shards(a.data, cache, head=bool(head_widths))
    val = np.array([is_validation(n, a.val_share) for n in names])
    tr_idx, va_idx = np.nonzero(~val)[0], np.nonzero(val)[0]
    data_hash = hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:16]
    print(f"{len(tr_idx)} training, {len(va_idx)} validation items (data {data_hash})", flush=True)
    widths = [int(x) for x in a.widths.split(",")]
    net = PostureNet(a.variant, widths, head_widths)
    net.feat_mean.copy_(torch.from_numpy(feats[tr_idx].mean(0)))
    # Visibility is ~1 on almost every item: its tiny spread would blow a rare low value up to
    # -60 standard deviations; floor its scale.
    floor = np.tile([1e-3, 1e-3, 1e-3, 0.25, 1e-3, 1e-3, 1e-3], len(POINTS)).astype(np.float32)
    net.feat_std.copy_(torch.from_numpy(np.maximum(feats[tr_idx].std(0), floor)))
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=1e-4)
    steps = a.epochs * math.ceil(len(tr_idx) / a.batch)
    # Cosine decay from the start (a long warm-up only delayed learning here).
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    start, ckpt = 0, a.out / "ckpt.pt"
    init = None
    if a.init:
        st0 = torch.load(a.init, weights_only=False)
        # The lineage goes into the recipe: what the starting weights were trained on, and how.
        init = {"checkpoint": str(a.init), "epochs": st0["epoch"], "data_hash": st0["data_hash"],
                "args": {k: str(v) for k, v in st0["args"].items()}}
        if not ckpt.exists():
            warm_start(net, st0["net"])
    if a.init_export and not ckpt.exists():
        w = np.load(a.init_export)
        init = {"export": str(a.init_export), "sha256": hashlib.sha256(a.init_export.read_bytes()).hexdigest()}
        init_from_export(net, w, crops, tr_idx, np.random.default_rng([a.seed, 99]), heads=heads)
    if ckpt.exists():
        st = torch.load(ckpt, weights_only=False)
        if st["args"] == vars(a) | {"out": str(a.out)} and st["data_hash"] == data_hash:
            net.load_state_dict(st["net"])
            opt.load_state_dict(st["opt"])
            sched.load_state_dict(st["sched"])
            start = st["epoch"]
            print(f"resumed after epoch {start}", flush=True)
    ys_n = ys / SCALES
    gen = torch.Generator().manual_seed(a.seed)
    for epoch in range(start, a.epochs):
        net.train()
        t0, total = time.time(), 0.0
        order = np.random.default_rng([a.seed, epoch]).permutation(tr_idx)
        for k in range(0, len(order), a.batch):
            j = np.sort(order[k:k + a.batch])
            c = torch.from_numpy(crops[j]).permute(0, 3, 1, 2).float() / 255
            c, f, y, h = augment(c, torch.from_numpy(feats[j]), torch.from_numpy(ys_n[j]), gen, as_input(heads, j))
            loss = loss_fn(net(c, f, h), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(j)
        mu, b = evaluate(net, crops, feats, ys, va_idx, heads=heads)
        mae = np.mean(np.abs(mu - ys[va_idx]), axis=0)
        print(f"epoch {epoch + 1}/{a.epochs} loss {total / len(order):.3f} ({time.time() - t0:.0f} s) val MAE "
              + " ".join(f"{m:.3f}" for m in mae), flush=True)
        torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "epoch": epoch + 1, "args": vars(a) | {"out": str(a.out)}, "data_hash": data_hash},
                   str(ckpt) + ".tmp")
        os.replace(str(ckpt) + ".tmp", ckpt)
    mu, b = evaluate(net, crops, feats, ys, va_idx, heads=heads)
    report = metrics(mu, b, ys[va_idx])
    print(report, flush=True)
    (a.out / "report.txt").write_text(report + "\n")
    gold = va_idx[:4]
    save(net, a, widths, data_hash, len(tr_idx), len(va_idx), crops[gold], feats[gold], init,
         None if heads is None else heads[gold])


def warm_start(net, old):
    """Copy a trained state into `net`; the last layer's rows are matched by output (the old run may
    have had fewer targets: its means, then its log-scales), new outputs keep their fresh init."""
    own = net.state_dict()
    n = m = len(TARGETS)
    for k, v in old.items():
        if own[k].shape == v.shape:
            own[k] = v
        elif k.startswith("head.2."):
            m = v.shape[0] // 2
            own[k][:m], own[k][n:n + m] = v[:m], v[m:]
        else:
            raise SystemExit(f"--init: {k} has shape {tuple(v.shape)}, this run {tuple(own[k].shape)}")
    net.load_state_dict(own)
    print(f"started from the given weights ({m} of {n} outputs)", flush=True)


def unfold_tower(tower, w, prefix, images):
    """One tower's folded convolutions (`prefix`{i}.weight/bias) back into conv + batch norm, each
    batch norm set from its convolution's output statistics on `images` (see init_from_export)."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    for i, seq in enumerate(tower):
        conv, bn = seq[0], seq[1]
        conv.weight.copy_(torch.from_numpy(w[f"{prefix}{i}.weight"]))
        bias = torch.from_numpy(w[f"{prefix}{i}.bias"])
        z = conv(x)
        mean, var = z.mean(dim=(0, 2, 3)), z.var(dim=(0, 2, 3), unbiased=False)
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
        bn.weight.copy_(torch.sqrt(var + bn.eps))
        bn.bias.copy_(mean + bias)
        x = torch.relu(z + bias[None, :, None, None])


def init_from_export(net, w, crops, tr_idx, rng, n=512, heads=None):
    """The inverse of `save`: exported arrays back into the training network. The convolutions were
    saved with batch norm folded in, so each batch norm is set from the statistics of its folded
    convolution's output on n training crops (scale = their spread, shift = their mean + the folded
    bias): in training and in evaluation it then passes the folded layer's output through unchanged,
    as far as a batch's statistics match those. A head tower (`hconv{i}`) likewise, on the same
    items' head crops."""
    if list(w["targets"]) != TARGETS:
        raise SystemExit(f"--init-export: targets {list(w['targets'])}, this run {TARGETS}")
    with torch.no_grad():
        j = np.sort(rng.choice(tr_idx, size=min(n, len(tr_idx)), replace=False))
        if net.convs is not None:
            unfold_tower(net.convs, w, "conv", crops[j])
        if net.head_convs is not None and "hconv0.weight" in w:
            if heads is None:
                raise SystemExit("--init-export: the exported model has a head tower; give --head-widths")
            unfold_tower(net.head_convs, w, "hconv", heads[j])
        if net.feat is not None:
            w0 = torch.from_numpy(w["feat.weight"])
            net.feat[0].weight.copy_(w0 * net.feat_std[None, :])
            net.feat[0].bias.copy_(torch.from_numpy(w["feat.bias"]) + w0 @ net.feat_mean)
        w0 = torch.from_numpy(w["head0.weight"])
        if net.head_convs is not None and "hconv0.weight" not in w:
            # A head tower the exported model did not have: its code's columns start at zero, so
            # the network starts as the exported model and learns to use the head from there.
            n_body = net.convs[-1][0].out_channels
            n_head = net.head_convs[-1][0].out_channels
            w0 = torch.cat([w0[:, :n_body], torch.zeros(w0.shape[0], n_head), w0[:, n_body:]], dim=1)
        elif "hconv0.weight" in w and net.head_convs is None:
            raise SystemExit("--init-export: the exported model has a head tower; give --head-widths")
        net.head[0].weight.copy_(w0)
        net.head[0].bias.copy_(torch.from_numpy(w["head0.bias"]))
        scale = torch.from_numpy(np.concatenate([SCALES, np.ones_like(SCALES)]))
        shift = torch.from_numpy(np.concatenate([np.zeros_like(SCALES), np.log(SCALES)]))
        net.head[2].weight.copy_(torch.from_numpy(w["head1.weight"]) / scale[:, None])
        net.head[2].bias.copy_((torch.from_numpy(w["head1.bias"]) - shift) / scale)
    print(f"started from the exported arrays (batch norms from {n} training crops)", flush=True)


def fold(seq):
    """Conv + batch norm (eval) → one conv's weight and bias."""
    conv, bn = seq[0], seq[1]
    s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    w = conv.weight * s[:, None, None, None]
    return w, bn.bias - bn.running_mean * s


def save(net, a, widths, data_hash, n_train, n_val, gold_crops, gold_feats, init=None, gold_heads=None):
    net.eval()
    arrays = {}
    if net.convs is not None:
        for i, seq in enumerate(net.convs):
            w, bias = fold(seq)
            arrays[f"conv{i}.weight"], arrays[f"conv{i}.bias"] = w, bias
            arrays[f"conv{i}.stride"] = torch.tensor(seq[0].stride[0])
    if net.head_convs is not None:
        for i, seq in enumerate(net.head_convs):
            w, bias = fold(seq)
            arrays[f"hconv{i}.weight"], arrays[f"hconv{i}.bias"] = w, bias
            arrays[f"hconv{i}.stride"] = torch.tensor(seq[0].stride[0])
    if net.feat is not None:
        w0, b0 = net.feat[0].weight / net.feat_std[None, :], net.feat[0].bias
        arrays["feat.weight"], arrays["feat.bias"] = w0, b0 - w0 @ net.feat_mean
    arrays["head0.weight"], arrays["head0.bias"] = net.head[0].weight, net.head[0].bias
    arrays["head1.weight"], arrays["head1.bias"] = net.head[2].weight, net.head[2].bias
    # Outputs in real units: the last layer absorbs the target scales (mean) and log-scales (b).
    scale = torch.from_numpy(np.concatenate([SCALES, np.ones_like(SCALES)]))
    shift = torch.from_numpy(np.concatenate([np.zeros_like(SCALES), np.log(SCALES)]))
    arrays["head1.weight"] = arrays["head1.weight"] * scale[:, None]
    arrays["head1.bias"] = arrays["head1.bias"] * scale + shift
    np.savez(a.out / "weights.npz", **{k: v.detach().numpy().astype(np.float32) for k, v in arrays.items()})
    c = torch.from_numpy(gold_crops).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        h = None if gold_heads is None else torch.from_numpy(gold_heads).permute(0, 3, 1, 2).float() / 255
        out = net(c, torch.from_numpy(gold_feats), h).numpy()
    out = out * scale.numpy() + shift.numpy()
    # The product feeds NHWC (like the MediaPipe models); the ONNX graph transposes.
    extra = {} if gold_heads is None else {"head": gold_heads.astype(np.float32) / 255}
    np.savez(a.out / "golden.npz", crop=c.permute(0, 2, 3, 1).numpy(), features=gold_feats,
             output=out.astype(np.float32), **extra)
    cfg = {"variant": a.variant, "widths": widths, "epochs": a.epochs, "batch": a.batch, "lr": a.lr,
           "seed": a.seed, "val_share": a.val_share, "targets": TARGETS, "points": POINTS,
           "n_features": N_FEATURES, "crop_px": int(gold_crops.shape[1]), "data_hash": data_hash,
           "head_widths": [int(x) for x in a.head_widths.split(",")] if a.head_widths else None,
           "head_px": None if gold_heads is None else int(gold_heads.shape[1]),
           "n_train": n_train, "n_val": n_val, "torch": torch.__version__,
           "command": "models/train/train.sh " + " ".join(sys.argv[1:]), "init": init,
           "output": f"{len(TARGETS)} means (deg, deg, deg, sw, sw, deg, deg, deg, deg) then as many log Laplace scales in the same units"}
    (a.out / "config.json").write_text(json.dumps(cfg, indent=1) + "\n")
    print(f"wrote {a.out}/weights.npz, golden.npz, config.json", flush=True)


if __name__ == "__main__":
    sys.exit(main())
