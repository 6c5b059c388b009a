#!/usr/bin/env python3
"""Synthetic exam-room avatars with measured head-posture labels (cdposture).

Run through render.sh (it sets up the venv and EGL). Every item is a function of its seed only
(seed = --seed + index), so a run is deterministic and resumable: finished items (image + its
JSON record) are skipped, and labels.csv is rewritten from the records at the end.

Body: anny (rigged MakeHuman-derived body, CC0 data), posed in its 'local-ref' parameterisation
(rotation deltas about world-aligned axes at each joint; anny world: x = subject's left,
y = subject's back, z = up). Rendering: pyrender on EGL (Mesa llvmpipe, CPU).

Labels are MEASURED from the posed skeleton against the same subject's neutral pose (identity
deltas, same arms-down pose), never copied from the sampled targets (the targets are kept in the
records as target_* for checking only):

* trunk = the spine01 bone's rotation since neutral (T), head = the head bone's (H);
* head relative to the trunk = T^T H; in the camera frame = C^T H, trunk in the camera frame = C^T T
  (C = the camera's orientation), all converted to the project's convention
  (src/geometry/angles.rs: camera x = image right, y = up, z = toward the camera;
  R = Rx(-pitch) Ry(-yaw) Rz(-roll); +yaw = face toward image left, +pitch = chin up,
  +roll = top of the head toward image right);
* shifts = displacement of the head joint (top of neck03, the skull base) relative to the midpoint
  of the two shoulder joints (heads of upperarm01.L/R), in the trunk frame, minus the neutral's;
  +lateral = toward the subject's left, +sagittal = forward; cm and shoulder widths (the neutral
  distance between the two shoulder joints);
* shoulder elevation = angle of the shoulder line (left minus right shoulder joint) in the trunk's
  frontal plane, minus the neutral's; + = subject's left shoulder higher.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import numpy as np

W, H = 640, 480
SS = 2  # supersampling factor

# anny world (x left, y back, z up) -> project/head canonical frame (x = subject's left = image
# right for a subject facing the camera, y = up, z = out of the face = toward the camera).
M = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

SKIN_SRGB = [  # light to dark
    (247, 222, 204), (234, 196, 170), (216, 170, 140), (190, 140, 105),
    (160, 110, 78), (120, 80, 55), (85, 56, 40),
]
HAIR_SRGB = [(20, 16, 14), (45, 30, 20), (90, 60, 35), (150, 110, 60), (200, 170, 110),
             (120, 120, 120), (210, 210, 205), (110, 40, 20)]
SHIRT_SRGB = [(30, 60, 120), (200, 200, 205), (240, 240, 240), (30, 30, 30), (120, 20, 30),
              (40, 110, 70), (150, 150, 160), (180, 140, 90), (70, 130, 180), (220, 180, 60),
              (90, 60, 120), (160, 60, 60)]
IRIS_SRGB = [(60, 35, 20), (90, 60, 30), (40, 25, 15), (70, 100, 130), (80, 100, 60), (110, 80, 40)]
# Real photos shipped inside the scikit-image wheel (no faces: astronaut and camera excluded).
PHOTOS = ["coffee", "chelsea", "rocket", "brick", "grass", "gravel", "hubble_deep_field",
          "immunohistochemistry", "retina", "motorcycle_left", "coins", "moon", "page", "logo",
          "colorwheel", "cell", "clock", "horse"]
# Background photos kept out of training (`--photos train`) for held-out test sets (`--photos heldout`).
HELDOUT_PHOTOS = ["rocket", "grass", "moon", "clock", "horse"]
PHOTO_POOLS = {"all": PHOTOS, "heldout": HELDOUT_PHOTOS,
               "train": [p for p in PHOTOS if p not in HELDOUT_PHOTOS]}
photo_pool = PHOTOS  # set from --photos; one draw whatever the pool, so other draws do not shift

CSV_HEAD = ["image", "yaw_deg", "pitch_deg", "roll_deg", "lateral_shift_sw", "sagittal_shift_sw",
            "shoulder_elevation_deg"]
CSV_REST = ["cam_yaw_deg", "cam_pitch_deg", "cam_roll_deg",
            "trunk_yaw_deg", "trunk_pitch_deg", "trunk_roll_deg",
            "lateral_shift_cm", "sagittal_shift_cm", "shoulder_width_cm",
            "cam_distance_m", "cam_hfov_deg", "cam_azimuth_deg", "cam_elevation_deg",
            "fx_px", "fy_px", "cx_px", "cy_px",
            "seed", "kind", "gender", "age", "muscle", "weight", "height", "proportions",
            "skin_tone", "hair", "background",
            "target_yaw_deg", "target_pitch_deg", "target_roll_deg",
            "target_lateral_cm", "target_sagittal_cm", "target_shoulder_deg",
            "target_trunk_yaw_deg", "target_trunk_pitch_deg", "target_trunk_roll_deg"]
KP_NAMES = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
            "right_shoulder"]
KP_COLS = [f"{k}_{c}" for k in KP_NAMES for c in ("x_px", "y_px", "X_m", "Y_m", "Z_m", "visible")]
COLUMNS = CSV_HEAD + CSV_REST + KP_COLS


# ----------------------------------------------------------------------------- geometry
def _rx(a):
    s, c = math.sin(a), math.cos(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]], float)


def _ry(a):
    s, c = math.sin(a), math.cos(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], float)


def _rz(a):
    s, c = math.sin(a), math.cos(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], float)


def angles_to_matrix(yaw, pitch, roll):
    """Project convention (src/geometry/angles.rs::to_matrix), degrees."""
    r = math.radians
    return _rx(-r(pitch)) @ _ry(-r(yaw)) @ _rz(-r(roll))


def matrix_to_angles(m):
    """Project convention (src/geometry/angles.rs::from_matrix): (yaw, pitch, roll) degrees."""
    b = math.asin(max(-1.0, min(1.0, m[0][2])))
    a = math.atan2(-m[1][2], m[2][2])
    c = math.atan2(-m[0][1], m[0][0])
    return -math.degrees(b), -math.degrees(a), -math.degrees(c)


def rot_power(R, t):
    """R^t via the rotation vector."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_rotvec(Rotation.from_matrix(R).as_rotvec() * t).as_matrix()


def proj_to_anny(R):
    return M.T @ R @ M


# ----------------------------------------------------------------------------- sampling
def sample_subject(rng):
    return dict(
        gender=float(rng.uniform(0, 1)),
        age=float(rng.uniform(0.56, 1.0)),  # anny: 2/3 = young adult, 1 = old
        muscle=float(rng.uniform(0.2, 0.8)),
        weight=float(rng.uniform(0.15, 0.85)),
        height=float(rng.uniform(0.25, 0.8)),
        proportions=float(rng.uniform(0.3, 0.7)),
    )


def _sym(rng, lo, hi):
    return float(rng.uniform(lo, hi))


def sample_yaw(rng):
    mag = rng.uniform(45, 90) if rng.uniform() < 0.25 else rng.uniform(0, 45)
    return float(mag * rng.choice([-1, 1]))


def sample_posture(rng, kind=None):
    """Targets (the labels are measured, not these): head relative to the trunk (yaw, pitch,
    roll deg), shifts (cm), shoulder elevation (deg), trunk in the world (yaw, pitch, roll deg)."""
    t = dict(yaw=0.0, pitch=0.0, roll=0.0, lat=0.0, sag=0.0, sho=0.0, tyaw=0.0, tpitch=0.0,
             troll=0.0)
    if kind is None:
        kind = str(rng.choice(["single", "combined", "trunk"], p=[0.3, 0.45, 0.25]))
    draw = dict(
        yaw=lambda: sample_yaw(rng),
        pitch=lambda: _sym(rng, -45, 35),
        roll=lambda: _sym(rng, -40, 40),
        lat=lambda: _sym(rng, -5, 5),
        sag=lambda: _sym(rng, -4, 5),
        sho=lambda: _sym(rng, -10, 10),
    )
    if kind == "single":
        which = str(rng.choice(["yaw", "yaw", "pitch", "roll", "lat", "sag", "sho", "none"]))
        if which != "none":
            t[which] = draw[which]()
    else:
        p = dict(yaw=0.8, pitch=0.55, roll=0.55, lat=0.35, sag=0.35, sho=0.35)
        if kind == "trunk":
            p = {k: v * 0.6 for k, v in p.items()}
        for k, pk in p.items():
            if rng.uniform() < pk:
                v = draw[k]()
                # combined postures: keep the extremes a little less extreme
                t[k] = v if k == "yaw" else v * float(rng.uniform(0.5, 1.0))
    if kind == "trunk":
        t["tyaw"] = _sym(rng, -25, 25)
        t["tpitch"] = _sym(rng, -10, 10) if rng.uniform() < 0.6 else 0.0
        t["troll"] = _sym(rng, -10, 10) if rng.uniform() < 0.6 else 0.0
    return kind, t


EXTREMES = dict(pitch=(-45, 35), roll=(-40, 40), lat=(-5, 5), sag=(-4, 5), sho=(-10, 10))


def stratified_posture(rng, k):
    """Test-set design: item k cycles through wide yaw (|yaw| 45-90, others as in 'combined'),
    trunk moved (turned and/or leaning, head posture as in 'trunk'), one extreme on a cycling axis
    (60-100 % of its range end), and a free combination."""
    slot = k % 4
    if slot == 0:
        kind, t = sample_posture(rng, "combined")
        t["yaw"] = float(rng.uniform(45, 90) * rng.choice([-1, 1]))
        return "wide_yaw", t
    if slot == 1:
        kind, t = sample_posture(rng, "trunk")
        if abs(t["tyaw"]) < 8 and rng.uniform() < 0.7:
            t["tyaw"] = float(rng.uniform(8, 25) * rng.choice([-1, 1]))
        return kind, t
    if slot == 2:
        _, t = sample_posture(rng, "single")
        for key in t:
            t[key] = 0.0
        axes = ["pitch", "pitch", "roll", "lat", "sag", "sho"]
        axis = axes[(k // 4) % len(axes)]
        lo, hi = EXTREMES[axis]
        side = hi if (k // 24) % 2 == 0 else lo
        if axis == "pitch":
            side = lo if (k // 4) % 6 == 0 else hi
        t[axis] = float(side * rng.uniform(0.6, 1.0))
        return "extreme_" + axis, t
    return sample_posture(rng, "combined")


def sample_scene(rng):
    hfov = float(rng.uniform(40, 65))
    vfov = 2 * math.atan(math.tan(math.radians(hfov) / 2) * H / W)
    vis_h = float(rng.uniform(0.62, 0.95))  # visible height at the subject, m
    dist = min(2.0, max(1.0, vis_h / (2 * math.tan(vfov / 2))))
    return dict(
        hfov=hfov,
        dist=dist,
        azimuth=float(rng.uniform(-15, 15)),
        elevation=float(rng.uniform(-10, 10)),
        frame_jitter=(float(rng.uniform(-0.04, 0.04)), float(rng.uniform(-0.05, 0.05))),
        skin=int(rng.integers(len(SKIN_SRGB))),
        skin_jitter=rng.uniform(0.93, 1.07, 3).tolist(),
        hair=int(rng.integers(len(HAIR_SRGB))),
        hair_style=str(rng.choice(["short", "short", "long", "bald"], p=[0.35, 0.15, 0.4, 0.1])),
        shirt=int(rng.integers(len(SHIRT_SRGB))),
        iris=int(rng.integers(len(IRIS_SRGB))),
        shirt_jitter=rng.uniform(0.85, 1.15, 3).tolist(),
        neckline=float(rng.uniform(0.03, 0.10)),
        sleeves=str(rng.choice(["short", "long"])),
        background=str(rng.choice(["photo", "wall"], p=[0.55, 0.45])),
        photo=str(rng.choice(photo_pool)),
        photo_crop=rng.uniform(0, 1, 3).tolist(),
        wall_rgb=rng.uniform(0.35, 0.95, 3).tolist(),
        bg_blur=float(rng.uniform(0.5, 3.0)),
        n_lights=int(rng.integers(1, 3)),
        light_dirs=rng.uniform(-1, 1, (2, 2)).tolist(),
        light_int=rng.uniform(1.6, 3.4, 2).tolist(),
        ambient=float(rng.uniform(0.18, 0.4)),
        brightness=float(rng.uniform(-0.08, 0.08)),
        contrast=float(rng.uniform(0.85, 1.15)),
        noise=float(rng.uniform(0.0, 0.02)),
        blur=float(rng.uniform(0.0, 0.8)),
        jpeg=int(rng.integers(70, 96)),
    )


# ----------------------------------------------------------------------------- model
class Avatar:
    def __init__(self):
        import torch
        import anny

        torch.set_num_threads(1)
        self.torch = torch
        self.model = anny.Anny(pose_parameterization="local-ref")
        self.labels = list(self.model.bone_labels)
        self.idx = {b: i for i, b in enumerate(self.labels)}
        self.kp = anny.KeypointsRegressor.coco(self.model)
        self.kp_idx = [self.kp.labels.index(k) for k in KP_NAMES]
        self.faces = self.model.get_triangular_faces().cpu().numpy()
        self._segment()

    def _segment(self):
        """Per-vertex body part from anny's UV segmentation image."""
        from PIL import Image
        import yaml
        import anny.paths as ap

        root = ap.get_anny_root_dir() / "data" / "segmentation"
        img = np.asarray(Image.open(root / "body_parts_segmentation.png").convert("RGB"))
        colors = yaml.safe_load(open(root / "body_parts_segmentation.yaml"))["colors"]
        m = self.model
        V = m.template_vertices.shape[0]
        uv = m.texture_coordinates.cpu().numpy()
        fuv = m.face_texture_coordinate_indices.cpu().numpy()
        faces = m.faces.cpu().numpy() if hasattr(m.faces, "cpu") else np.asarray(m.faces)
        part = np.zeros(V, int)  # index into names
        names = list(colors)
        pal = np.array([colors[n] for n in names], float)
        vuv = np.zeros((V, 2))
        vuv[faces.reshape(-1)] = uv[fuv.reshape(-1)]
        h, w = img.shape[:2]
        px = np.clip((vuv[:, 0] * (w - 1)).round().astype(int), 0, w - 1)
        py = np.clip(((1 - vuv[:, 1]) * (h - 1)).round().astype(int), 0, h - 1)
        col = img[py, px].astype(float)
        part = np.argmin(((col[:, None, :] - pal[None]) ** 2).sum(-1), 1)
        self.part_names = names
        self.part = part

    def forward(self, subject, deltas_list):
        """deltas_list: list of {bone: 3x3 world-aligned delta}; returns verts (B,V,3), bone
        poses (B,J,4,4), keypoints (B,K,3) in anny world."""
        torch = self.torch
        B = len(deltas_list)
        J = len(self.labels)
        D = torch.eye(4, dtype=torch.float64).repeat(B, J, 1, 1)
        for b, deltas in enumerate(deltas_list):
            for name, R in deltas.items():
                D[b, self.idx[name], :3, :3] = torch.as_tensor(R)
        D = D.to(self.model.dtype)
        ph = {k: torch.full((B,), float(v), dtype=self.model.dtype) for k, v in subject.items()
              if k in self.model.phenotype_labels}
        with torch.no_grad():
            out = self.model(pose_parameters=D, phenotype_kwargs=ph)
            kp = self.kp(out)
        return (out["vertices"].double().cpu().numpy(), out["bone_poses"].double().cpu().numpy(),
                kp.double().cpu().numpy())


def arm_deltas(av):
    """Arms down along the body (anny's rest pose holds them out)."""
    d = {}
    for side, s in (("L", 1), ("R", -1)):
        b = f"upperarm01.{side}"
        if b in av.idx:
            d[b] = _ry(s * math.radians(av.arm_angle))
        fb = f"lowerarm01.{side}"
        if fb in av.idx:
            d[fb] = _rx(math.radians(-15))
    return d


def posture_deltas(av, t):
    """World-aligned local-ref deltas for the targets (anny axes)."""
    d = dict(arm_deltas(av))
    r = math.radians
    T = proj_to_anny(angles_to_matrix(t["tyaw"], t["tpitch"], t["troll"]))
    for b in ("spine03", "spine02", "spine01"):
        d[b] = rot_power(T, 1 / 3)
    R = proj_to_anny(angles_to_matrix(t["yaw"], t["pitch"], t["roll"]))
    a = r(t["lat"] * 25 / 3.7)  # bend about the antero-posterior axis: + moves the head left
    bsag = r(t["sag"] * 25 / (3.2 if t["sag"] >= 0 else 3.8))  # about x: + moves it forward
    n1 = _ry(a) @ _rx(bsag)
    n2 = rot_power(R, 0.2)
    n3 = _ry(-a / 2) @ _rx(-bsag / 2) @ rot_power(R, 0.3)
    d["neck01"], d["neck02"], d["neck03"] = n1, n2, n3
    d["head"] = (n1 @ n2 @ n3).T @ R
    e = r(t["sho"]) * 2.3  # measured: ~1° of shoulder line per input unit at this factor
    # raising the left clavicle = rotation about -y (its lateral end at +x goes up)
    hi, lo = (0.7, 0.3)
    d["clavicle.L"] = _ry(-e * (hi if e >= 0 else lo))
    d["clavicle.R"] = _ry(-e * (lo if e >= 0 else hi))
    return d


def measure(av, bones_n, bones_p):
    """Labels from the posed skeleton vs the neutral one (anny world)."""
    i = av.idx
    Rn = lambda b: bones_n[i[b], :3, :3]
    Rp = lambda b: bones_p[i[b], :3, :3]
    G = lambda b: Rp(b) @ Rn(b).T
    T, Hd = G("spine01"), G("head")
    rel = matrix_to_angles(M @ (T.T @ Hd) @ M.T)
    hn, hp = bones_n[i["head"], :3, 3], bones_p[i["head"], :3, 3]
    Ln, Rn_ = bones_n[i["upperarm01.L"], :3, 3], bones_n[i["upperarm01.R"], :3, 3]
    Lp, Rp_ = bones_p[i["upperarm01.L"], :3, 3], bones_p[i["upperarm01.R"], :3, 3]
    sw = float(np.linalg.norm(Ln - Rn_))
    dn = hn - (Ln + Rn_) / 2
    dp = T.T @ (hp - (Lp + Rp_) / 2)
    delta = dp - dn
    sn, sp = Ln - Rn_, T.T @ (Lp - Rp_)
    elev = math.degrees(math.atan2(sp[2], sp[0]) - math.atan2(sn[2], sn[0]))
    return dict(rel=rel, T=T, H=Hd, lat_cm=100 * delta[0], sag_cm=-100 * delta[1],
                sw_cm=100 * sw, elev=elev)


# ----------------------------------------------------------------------------- rendering
class Renderer:
    def __init__(self):
        import pyrender

        self.pyrender = pyrender
        self.r = pyrender.OffscreenRenderer(W * SS, H * SS)
        self._photos = {}

    def photo(self, name):
        if name not in self._photos:
            import skimage.data as sd

            try:
                im = getattr(sd, name)()
            except Exception:
                im = None
            if im is not None:
                im = np.asarray(im)
                if im.ndim == 2:
                    im = np.repeat(im[..., None], 3, 2)
                im = im[..., :3].astype(np.float32) / (255.0 if im.dtype == np.uint8 else
                                                       max(1.0, float(im.max())))
            self._photos[name] = im
        return self._photos[name]

    def background(self, sc, rng_bg):
        from scipy.ndimage import gaussian_filter, zoom

        if sc["background"] == "photo":
            im = self.photo(sc["photo"])
            if im is not None:
                h, w = im.shape[:2]
                s = max(H / h, W / w) * (1.0 + sc["photo_crop"][2])
                im = zoom(im, (s, s, 1), order=1)
                h, w = im.shape[:2]
                y0 = int(sc["photo_crop"][0] * (h - H))
                x0 = int(sc["photo_crop"][1] * (w - W))
                im = im[y0:y0 + H, x0:x0 + W]
                return gaussian_filter(im, (sc["bg_blur"], sc["bg_blur"], 0))
        # plain exam-room wall with a soft vertical gradient and a little texture
        c = np.array(sc["wall_rgb"], np.float32)
        base = c.mean() + 0.35 * (c - c.mean())  # muted: painted walls, not saturated colours
        g = np.linspace(1.08, 0.85, H, dtype=np.float32)[:, None, None]
        tex = gaussian_filter(rng_bg.normal(0, 0.03, (H, W, 1)).astype(np.float32), 3)
        im = base[None, None] * g + tex
        if rng_bg.uniform() < 0.5:  # a door frame / cabinet edge
            x = int(rng_bg.uniform(0, W))
            im[:, x:x + int(rng_bg.uniform(8, 60))] *= float(rng_bg.uniform(0.6, 0.9))
        return np.clip(im, 0, 1)

    def render(self, verts_proj, faces, colors_lin, normals, sc, cam_pose, rng_post, bg):
        pr = self.pyrender
        prim = pr.Primitive(positions=verts_proj.astype(np.float32), normals=normals.astype(np.float32),
                            color_0=np.concatenate([colors_lin, np.ones((len(colors_lin), 1))], 1).astype(np.float32),
                            indices=faces, mode=4,
                            material=pr.MetallicRoughnessMaterial(baseColorFactor=[1.0, 1.0, 1.0, 1.0],
                                                                  metallicFactor=0.0, roughnessFactor=0.8))
        scene = pr.Scene(ambient_light=[sc["ambient"]] * 3, bg_color=[0, 0, 0, 0])
        scene.add(pr.Mesh([prim]))
        vfov = 2 * math.atan(math.tan(math.radians(sc["hfov"]) / 2) * H / W)
        scene.add(pr.PerspectiveCamera(yfov=vfov, aspectRatio=W / H, znear=0.05, zfar=20), pose=cam_pose)
        for k in range(sc["n_lights"]):
            lx, ly = sc["light_dirs"][k]
            # light from the camera side, tilted by (lx, ly)
            Rl = cam_pose[:3, :3] @ _ry(lx * 0.9) @ _rx(ly * 0.6)
            P = np.eye(4)
            P[:3, :3] = Rl
            scene.add(pr.DirectionalLight(color=[1.0, 1.0, 1.0], intensity=sc["light_int"][k]), pose=P)
        color, depth = self.r.render(scene)
        rgb = color[..., :3].astype(np.float32) / 255.0
        mask = (depth > 0).astype(np.float32)[..., None]
        # 2x supersampling -> box filter
        rgb = rgb.reshape(H, SS, W, SS, 3).mean((1, 3))
        mask = mask.reshape(H, SS, W, SS, 1).mean((1, 3))
        img = rgb * mask + bg * (1 - mask)
        return self.post(img, sc, rng_post)

    @staticmethod
    def post(img, sc, rng):
        from scipy.ndimage import gaussian_filter

        img = (img - 0.5) * sc["contrast"] + 0.5 + sc["brightness"]
        if sc["blur"] > 0.2:
            img = gaussian_filter(img, (sc["blur"], sc["blur"], 0))
        img = img + rng.normal(0, sc["noise"], img.shape)
        return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def vertex_colors(av, verts_n, bones_n, sc):
    """Linear-light vertex colours: skin, painted hair, eyebrows, eyes, shirt (neutral pose)."""
    i = av.idx
    lin = lambda c: (np.array(c, float) / 255.0) ** 2.2
    skin = np.clip(lin(SKIN_SRGB[sc["skin"]]) * np.array(sc["skin_jitter"]), 0, 1)
    col = np.tile(skin, (len(verts_n), 1))
    names = av.part_names
    part = av.part
    is_ = lambda n: part == names.index(n) if n in names else np.zeros(len(part), bool)
    head = is_("head")
    z, y, x = verts_n[:, 2], verts_n[:, 1], verts_n[:, 0]
    hj = bones_n[i["head"], :3, 3]
    eL, eR = bones_n[i["eye.L"], :3, 3], bones_n[i["eye.R"], :3, 3]
    eye_z = (eL[2] + eR[2]) / 2
    eye_y = (eL[1] + eR[1]) / 2
    hair = lin(HAIR_SRGB[sc["hair"]])
    if sc["hair_style"] != "bald":
        top = head & (z > eye_z + 0.045)
        back = head & (y > eye_y + 0.07) & (z > hj[2] - (0.0 if sc["hair_style"] == "short" else 0.06))
        sides = head & (y > eye_y + 0.05) & (z > eye_z - 0.01) & (np.abs(x) > 0.06)
        col[top | back | sides] = hair
    brow = head & (z > eye_z + 0.012) & (z < eye_z + 0.026) & (y < eye_y) & \
        ((np.abs(x - eL[0]) < 0.022) | (np.abs(x - eR[0]) < 0.022))
    col[brow] = hair * 0.8
    iris = lin(IRIS_SRGB[sc["iris"]])
    for s, ec in (("L", eL), ("R", eR)):
        # both eye layers: white sclera, iris and pupil by the angle from the eye's forward axis
        eye = is_(f"eye_back.{s}") | is_(f"eye_front.{s}")
        d = verts_n[eye] - ec
        cosf = -d[:, 1] / np.maximum(np.linalg.norm(d, axis=1), 1e-9)
        c = np.tile(lin((225, 220, 215)), (len(d), 1))
        c[cosf > math.cos(math.radians(40))] = iris
        c[cosf > math.cos(math.radians(16))] = lin((10, 8, 8))
        col[eye] = c
        col[is_(f"eye_cavity.{s}")] = skin * 0.5
    col[is_("mouth_cavity") | is_("tongue")] = lin((120, 40, 40))
    # lips: a band below the nose on the face front
    # shirt: body below the neckline; sleeves
    sh = bones_n[i["upperarm01.L"], :3, 3]
    neck_base = bones_n[i["neck01"], :3, 3]
    shirt = np.clip(lin(SHIRT_SRGB[sc["shirt"]]) * np.array(sc["shirt_jitter"]), 0, 1)
    body = is_("body")
    torso = body & (z < neck_base[2] - sc["neckline"] * (y < neck_base[1]) + 0.02 * (y >= neck_base[1]))
    arm_lim = sh[2] - (0.18 if sc["sleeves"] == "short" else 0.65)
    torso &= (np.abs(x) < abs(sh[0]) + 0.02) | (z > arm_lim)
    col[torso] = shirt
    return col


def look_at(eye, target):
    z = eye - target
    z /= np.linalg.norm(z)
    xax = np.cross([0.0, 1.0, 0.0], z)
    xax /= np.linalg.norm(xax)
    yax = np.cross(z, xax)
    P = np.eye(4)
    P[:3, 0], P[:3, 1], P[:3, 2], P[:3, 3] = xax, yax, z, eye
    return P


def project(P_cam, hfov, pts_proj):
    """Project points (project world coords) with the camera pose; returns px (N,2), cam (N,3)."""
    Rcw, t = P_cam[:3, :3], P_cam[:3, 3]
    pc = (pts_proj - t) @ Rcw  # camera coords: x right, y up, z toward the camera
    f = (W / 2) / math.tan(math.radians(hfov) / 2)
    u = W / 2 + f * pc[:, 0] / -pc[:, 2]
    v = H / 2 - f * pc[:, 1] / -pc[:, 2]
    return np.stack([u, v], 1), pc, f


# ----------------------------------------------------------------------------- items
class Generator:
    def __init__(self, jpeg_quality=None):
        self.av = Avatar()
        self.av.arm_angle = 36.0
        self.ren = Renderer()
        self.jpeg_quality = jpeg_quality

    def setup(self, seed):
        """Subject, scene, neutral pose and camera for a seed."""
        rng = np.random.default_rng([seed, 1])
        subject = sample_subject(rng)
        sc = sample_scene(rng)
        av = self.av
        verts_n, bones_n, _ = av.forward(subject, [arm_deltas(av)])
        verts_n, bones_n = verts_n[0], bones_n[0]
        colors = vertex_colors(av, verts_n, bones_n, sc)
        # framing: top of the head to mid-chest, from the neutral pose
        top = float(verts_n[:, 2].max())
        chest = float(bones_n[av.idx["upperarm01.L"], 2, 3]) - 0.25
        hj = bones_n[av.idx["head"], :3, 3]
        target_anny = np.array([0.0, hj[1], (top + chest) / 2])
        target = M @ target_anny
        target[0] += sc["frame_jitter"][0] * sc["dist"] * 0.3
        target[1] += sc["frame_jitter"][1] * sc["dist"] * 0.3
        az, el = math.radians(sc["azimuth"]), math.radians(sc["elevation"])
        eye = target + sc["dist"] * np.array([math.cos(el) * math.sin(az), math.sin(el),
                                              math.cos(el) * math.cos(az)])
        cam = look_at(eye, target)
        rng_bg = np.random.default_rng([seed, 2])
        bg = self.ren.background(sc, rng_bg)
        return dict(seed=seed, subject=subject, sc=sc, bones_n=bones_n, colors=colors, cam=cam, bg=bg)

    def frame(self, S, t, rng_post):
        """Render one posture; returns (uint8 image, label dict)."""
        import trimesh

        av = self.av
        verts, bones, kp = av.forward(S["subject"], [posture_deltas(av, t)])
        verts, bones, kp = verts[0], bones[0], kp[0]
        m = measure(av, S["bones_n"], bones)
        vp = verts @ M.T
        normals = trimesh.Trimesh(vp, av.faces, process=False).vertex_normals
        img = self.ren.render(vp, av.faces, S["colors"], normals, S["sc"], S["cam"], rng_post, S["bg"])
        C = S["cam"][:3, :3]
        cam_head = matrix_to_angles(C.T @ (M @ m["H"] @ M.T))
        cam_trunk = matrix_to_angles(C.T @ (M @ m["T"] @ M.T))
        px, pc, f = project(S["cam"], S["sc"]["hfov"], kp[av.kp_idx] @ M.T)
        sc, sub = S["sc"], S["subject"]
        az = sc["azimuth"]
        # visibility: crude, by the head's measured camera yaw (one ear hidden beyond ~35°)
        cy = cam_head[0]
        vis = {"nose": abs(cy) < 80, "left_eye": cy > -60, "right_eye": cy < 60,
               "left_ear": cy > -35, "right_ear": cy < 35, "left_shoulder": True,
               "right_shoulder": True}
        row = dict(
            yaw_deg=m["rel"][0], pitch_deg=m["rel"][1], roll_deg=m["rel"][2],
            lateral_shift_sw=m["lat_cm"] / m["sw_cm"], sagittal_shift_sw=m["sag_cm"] / m["sw_cm"],
            shoulder_elevation_deg=m["elev"],
            cam_yaw_deg=cam_head[0], cam_pitch_deg=cam_head[1], cam_roll_deg=cam_head[2],
            trunk_yaw_deg=cam_trunk[0], trunk_pitch_deg=cam_trunk[1], trunk_roll_deg=cam_trunk[2],
            lateral_shift_cm=m["lat_cm"], sagittal_shift_cm=m["sag_cm"], shoulder_width_cm=m["sw_cm"],
            cam_distance_m=sc["dist"], cam_hfov_deg=sc["hfov"], cam_azimuth_deg=az,
            cam_elevation_deg=sc["elevation"], fx_px=f, fy_px=f, cx_px=W / 2, cy_px=H / 2,
            seed=S["seed"], **sub, skin_tone=sc["skin"], hair=sc["hair_style"],
            background=sc["photo"] if sc["background"] == "photo" else "wall",
            target_yaw_deg=t["yaw"], target_pitch_deg=t["pitch"], target_roll_deg=t["roll"],
            target_lateral_cm=t["lat"], target_sagittal_cm=t["sag"], target_shoulder_deg=t["sho"],
            target_trunk_yaw_deg=t["tyaw"], target_trunk_pitch_deg=t["tpitch"],
            target_trunk_roll_deg=t["troll"],
        )
        for k, name in enumerate(KP_NAMES):
            row[f"{name}_x_px"], row[f"{name}_y_px"] = px[k]
            row[f"{name}_X_m"], row[f"{name}_Y_m"], row[f"{name}_Z_m"] = pc[k]
            row[f"{name}_visible"] = int(vis[name])
        return img, row

    def save_jpeg(self, img, path, sc):
        from PIL import Image

        q = self.jpeg_quality or sc["jpeg"]
        tmp = str(path) + ".tmp"
        Image.fromarray(img).save(tmp, format="JPEG", quality=q)
        os.replace(tmp, path)


def fmt(v):
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def write_json(path, obj):
    tmp = str(path) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def write_csv(path, rows, columns):
    tmp = str(path) + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for r in rows:
            w.writerow([fmt(r.get(c, "")) for c in columns])
    os.replace(tmp, path)


CONTROL = [  # name, targets
    ("neutral", {}),
    ("yaw+30", {"yaw": 30}),
    ("pitch+20", {"pitch": 20}),
    ("roll+20", {"roll": 20}),
    ("lateral+4cm", {"lat": 4}),
    ("sagittal+4cm", {"sag": 4}),
    ("trunk_yaw+20", {"tyaw": 20}),
    ("left_shoulder_up", {"sho": 10}),
]


def zero_t():
    return dict(yaw=0.0, pitch=0.0, roll=0.0, lat=0.0, sag=0.0, sho=0.0, tyaw=0.0, tpitch=0.0,
                troll=0.0)


def run_images(gen, out, seed0, count, split, control=False, wide_yaw=0.0, design="mixed"):
    img_dir, rec_dir = out / "images", out / "records"
    img_dir.mkdir(parents=True, exist_ok=True)
    rec_dir.mkdir(parents=True, exist_ok=True)
    items = CONTROL if control else [(None, None)] * count
    names = []
    t0, done = time.time(), 0
    for k, (cname, ctarget) in enumerate(items):
        seed = seed0 if control else seed0 + k
        name = f"{split}_{cname}" if control else f"{split}_{seed:07d}"
        names.append(name)
        ip, rp = img_dir / f"{name}.jpg", rec_dir / f"{name}.json"
        if ip.exists() and rp.exists():
            continue
        S = gen.setup(seed)
        if control:
            S = control_scene(gen, S)
            t = zero_t()
            t.update({k2: float(v) for k2, v in ctarget.items()})
            kind = "control"
        else:
            if design == "stratified":
                kind, t = stratified_posture(np.random.default_rng([seed, 3]), k)
            else:
                kind, t = sample_posture(np.random.default_rng([seed, 3]))
            rw = np.random.default_rng([seed, 5])
            if rw.uniform() < wide_yaw and abs(t["yaw"]) <= 45:
                t["yaw"] = float(rw.uniform(45, 90) * rw.choice([-1, 1]))
        img, row = gen.frame(S, t, np.random.default_rng([seed, 4]))
        row["kind"] = kind
        row["image"] = f"images/{name}.jpg"
        gen.save_jpeg(img, ip, S["sc"])
        write_json(rp, row)
        done += 1
        el = time.time() - t0
        print(f"[{k + 1}/{len(items)}] {name} {kind} rel yaw/pitch/roll "
              f"{row['yaw_deg']:.1f}/{row['pitch_deg']:.1f}/{row['roll_deg']:.1f} "
              f"({el / done:.2f} s/image)", flush=True)
        if done % 250 == 0:
            write_labels(out, names)  # training can start on a run still under way
    return write_labels(out, names)


def item_names(seed0, count, split):
    return [f"{split}_{seed0 + k:07d}" for k in range(count)]


def write_labels(out, names):
    """labels.csv from the records finished so far, in item order (a partial run is usable)."""
    rec_dir = out / "records"
    rows = [json.load(open(rec_dir / f"{n}.json")) for n in names
            if (rec_dir / f"{n}.json").exists() and (out / "images" / f"{n}.jpg").exists()]
    write_csv(out / "labels.csv", rows, COLUMNS)
    return rows


def control_scene(gen, S):
    """Fixed frontal camera, plain wall, for the sign checks."""
    sc = dict(S["sc"])
    sc.update(azimuth=0.0, elevation=0.0, frame_jitter=(0.0, 0.0), background="wall",
              wall_rgb=[0.75, 0.78, 0.8], hfov=50.0, dist=1.2, n_lights=1,
              light_dirs=[[0.2, 0.2], [0, 0]], light_int=[3.5, 0], ambient=0.4, brightness=0.0,
              contrast=1.0, noise=0.0, blur=0.0, hair_style="short")
    S["sc"] = sc
    # recompute camera/background/colours for the overridden scene
    av = gen.av
    bones_n = S["bones_n"]
    verts_n, _, _ = av.forward(S["subject"], [arm_deltas(av)])
    S["colors"] = vertex_colors(av, verts_n[0], bones_n, sc)
    top = float(verts_n[0][:, 2].max())
    chest = float(bones_n[av.idx["upperarm01.L"], 2, 3]) - 0.25
    hj = bones_n[av.idx["head"], :3, 3]
    target = M @ np.array([0.0, hj[1], (top + chest) / 2])
    S["cam"] = look_at(target + np.array([0.0, 0.0, sc["dist"]]), target)
    S["bg"] = gen.ren.background(sc, np.random.default_rng(0))
    return S


# ----------------------------------------------------------------------------- sequences
SEQ_KINDS = ["held_turn", "trunk_turn", "random"]


def seq_targets(kind, rng, n, fps):
    """Per-frame targets for a sequence."""
    ts = []
    if kind.startswith("osc_"):
        # osc_<axis>_<hz>hz_<deg>deg_<base>: the head (relative to the trunk) oscillates about
        # <base> degrees on one axis, sin(2 pi hz t): a tremor, or a slow voluntary turn.
        _, axis, hz, deg, base = kind.split("_")
        hz, deg, base = float(hz[:-2]), float(deg[:-3]), float(base)
        for k in range(n):
            t = zero_t()
            t[axis] = base + deg * math.sin(2 * math.pi * hz * k / fps)
            ts.append(t)
    elif kind == "held_turn":
        sgn = float(rng.choice([-1, 1]))
        amp = 50.0
        for k in range(n):
            s = k / fps
            f = min(1.0, s / 1.0) if s < n / fps - 1.0 else max(0.0, (n / fps - s) / 1.0)
            t = zero_t()
            t["yaw"] = sgn * amp * f
            ts.append(t)
    elif kind == "trunk_turn":
        sgn = float(rng.choice([-1, 1]))
        dur = n / fps
        for k in range(n):
            s = k / fps
            t = zero_t()
            t["tyaw"] = sgn * 25.0 * math.sin(math.pi * s / dur)
            ts.append(t)
    else:
        _, a = sample_posture(rng)
        _, b = sample_posture(rng)
        for k in range(n):
            f = 0.5 - 0.5 * math.cos(math.pi * k / max(1, n - 1))
            ts.append({key: a[key] * (1 - f) + b[key] * f for key in a})
    return ts


def oscillation_kind(spec):
    """AXIS:HZ:DEG[:BASE] (e.g. yaw:5:3, roll:0.3:30:10) -> the sequence kind osc_..."""
    parts = spec.split(":")
    if len(parts) not in (3, 4) or parts[0] not in ("yaw", "pitch", "roll"):
        raise SystemExit(f"--oscillate {spec}: expected AXIS:HZ:DEG[:BASE], AXIS yaw|pitch|roll")
    hz, deg, base = (float(x) for x in (parts[1:] + ["0"])[:3])
    return f"osc_{parts[0]}_{hz:g}hz_{deg:g}deg_{base:g}"


def run_sequences(gen, out, seed0, count, split, seconds, fps, kinds=None):
    seq_dir = out / "sequences"
    seq_dir.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        seed = seed0 + k
        kind = (kinds or SEQ_KINDS)[k % len(kinds or SEQ_KINDS)]
        name = f"{split}_seq{seed:07d}_{kind}"
        mp4, cp = seq_dir / f"{name}.mp4", seq_dir / f"{name}.csv"
        if mp4.exists() and cp.exists():
            continue
        S = gen.setup(seed)
        n = int(round(seconds * fps))
        ts = seq_targets(kind, np.random.default_rng([seed, 3]), n, fps)
        rows = []
        t0 = time.time()
        with tempfile.TemporaryDirectory(prefix="cdp-seq-") as tmp:
            for j, t in enumerate(ts):
                img, row = gen.frame(S, t, np.random.default_rng([seed, 4, j]))
                from PIL import Image

                Image.fromarray(img).save(f"{tmp}/{j:05d}.png")
                row.update(image=f"{name}.mp4", kind=kind, frame=j, t_s=j / fps)
                rows.append(row)
            tmp_mp4 = str(mp4) + ".tmp.mp4"
            subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-framerate", str(fps), "-i",
                            f"{tmp}/%05d.png", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                            "-crf", "20", "-preset", "medium", tmp_mp4], check=True)
            os.replace(tmp_mp4, mp4)
        write_csv(cp, rows, ["frame", "t_s"] + COLUMNS)
        print(f"sequence {name}: {n} frames, {(time.time() - t0) / n:.2f} s/frame", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--sequences", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--split", default="train")
    ap.add_argument("--jpeg-quality", type=int, default=None,
                    help="fixed JPEG quality (default: random 70-95 per image)")
    ap.add_argument("--wide-yaw", type=float, default=0.0,
                    help="extra share of items whose head yaw is redrawn in 45-90 deg")
    ap.add_argument("--design", choices=["mixed", "stratified"], default="mixed",
                    help="mixed: random postures (training); stratified: the test-set design "
                         "(a quarter each: |yaw| > 45, trunk moved, one extreme, combined)")
    ap.add_argument("--control", action="store_true",
                    help="the sign-check set: one subject (--seed), fixed frontal camera")
    ap.add_argument("--oscillate", action="append", default=[], metavar="AXIS:HZ:DEG[:BASE]",
                    help="one sequence per spec: the head oscillating on one axis (tremor clips)")
    ap.add_argument("--photos", choices=sorted(PHOTO_POOLS), default="all",
                    help="background photo pool: train and heldout are disjoint (default all)")
    ap.add_argument("--labels-only", action="store_true",
                    help="only rewrite labels.csv from the items of --seed/--count finished so far")
    a = ap.parse_args()
    if a.labels_only:
        rows = write_labels(a.out, item_names(a.seed, a.count, a.split))
        print(f"{a.out / 'labels.csv'}: {len(rows)} of {a.count} items", flush=True)
        return 0
    global photo_pool
    photo_pool = PHOTO_POOLS[a.photos]
    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    gen = Generator(jpeg_quality=a.jpeg_quality)
    print(f"model ready in {time.time() - t0:.1f} s", flush=True)
    if a.control:
        rows = run_images(gen, a.out, a.seed, 0, a.split, control=True)
        for r in rows:
            print(f"{r['image']}: rel yaw {r['yaw_deg']:+.1f} pitch {r['pitch_deg']:+.1f} roll "
                  f"{r['roll_deg']:+.1f} lat {r['lateral_shift_cm']:+.2f} cm sag "
                  f"{r['sagittal_shift_cm']:+.2f} cm shoulder {r['shoulder_elevation_deg']:+.1f} "
                  f"| cam yaw {r['cam_yaw_deg']:+.1f} pitch {r['cam_pitch_deg']:+.1f} roll "
                  f"{r['cam_roll_deg']:+.1f} | trunk yaw {r['trunk_yaw_deg']:+.1f} pitch "
                  f"{r['trunk_pitch_deg']:+.1f} roll {r['trunk_roll_deg']:+.1f}")
    if a.count:
        run_images(gen, a.out, a.seed, a.count, a.split, wide_yaw=a.wide_yaw, design=a.design)
    if a.sequences:
        run_sequences(gen, a.out, a.seed + 500000, a.sequences, a.split, a.seconds, a.fps)
    if a.oscillate:
        kinds = [oscillation_kind(s) for s in a.oscillate]
        run_sequences(gen, a.out, a.seed + 600000, len(kinds), a.split, a.seconds, a.fps, kinds)
    print(f"done in {time.time() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
