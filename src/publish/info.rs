//! The device's identity card, `<prefix>/<room>/info` (retained, QoS 1, sent at every connect):
//! the software version, the models it measures with (each file's sha256, from the manifest
//! `models/fetch.sh` wrote), the pose variant, and a fingerprint of its config file. The gateway
//! keeps the latest and writes every change to its audit trail: which numbers came from which
//! models and settings stays answerable long after the exam.

use std::path::Path;

/// FNV-1a, 64 bit: enough to tell that a config file changed (not a security hash; the file
/// itself never leaves the device).
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `model name → sha256` from `manifest.toml` (empty when it cannot be read: the models loaded
/// anyway, and the card says so rather than failing).
fn model_hashes(model_dir: &Path) -> serde_json::Map<String, serde_json::Value> {
    let text = std::fs::read_to_string(model_dir.join("manifest.toml")).unwrap_or_default();
    let Ok(manifest) = text.parse::<toml::Table>() else {
        return Default::default();
    };
    manifest
        .get("model")
        .and_then(|m| m.as_array())
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let name = m.get("file")?.as_str()?;
            let sha = m.get("onnx_sha256").or_else(|| m.get("sha256"))?.as_str()?;
            Some((name.to_string(), sha.into()))
        })
        .collect()
}

/// The JSON payload of `info`.
pub fn device_info(room: &str, model_dir: &Path, pose: &str, config: Option<&Path>) -> String {
    let config = config
        .and_then(|p| std::fs::read(p).ok())
        .map(|b| format!("fnv1a64:{:016x}", fnv1a64(&b)));
    serde_json::json!({
        "schema": crate::protocol::messages::SCHEMA_VERSION,
        "room": room,
        "version": env!("CARGO_PKG_VERSION"),
        "pose": pose,
        "models": model_hashes(model_dir),
        "config": config,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_card_lists_each_model_and_fingerprints_the_config() {
        let dir = std::env::temp_dir().join(format!("cdposture-info-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("manifest.toml"),
            "schema = 1\n[[model]]\nfile = \"a.onnx\"\nonnx_sha256 = \"aa\"\n[[model]]\nfile = \"b.onnx\"\nsha256 = \"bb\"\n",
        )
        .unwrap();
        let cfg = dir.join("c.toml");
        std::fs::write(&cfg, "[room]\nid = \"r\"\n").unwrap();
        let v: serde_json::Value = serde_json::from_str(&device_info("r", &dir, "lite", Some(&cfg))).unwrap();
        assert_eq!(v["models"], serde_json::json!({"a.onnx": "aa", "b.onnx": "bb"}));
        let first = v["config"].as_str().unwrap().to_string();
        std::fs::write(&cfg, "[room]\nid = \"s\"\n").unwrap();
        let v2: serde_json::Value = serde_json::from_str(&device_info("r", &dir, "lite", Some(&cfg))).unwrap();
        assert_ne!(
            v2["config"].as_str().unwrap(),
            first,
            "a changed config changes the fingerprint"
        );
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
    }
}
