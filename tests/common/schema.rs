//! docs/schema.json through a real JSON Schema validator (draft 2020-12, the `jsonschema` crate):
//! one validator per message definition, every keyword checked (types, `additionalProperties`,
//! `required`, enums, ranges), not only the key names.

use serde_json::Value;

pub const SCHEMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/schema.json");

/// The definition that describes the payload of a topic (the last part of the MQTT topic, or the
/// `topic` tag of a stdout line).
pub fn def_for_topic(topic: &str) -> &'static str {
    match topic {
        "state" | "assessment" => "state",
        "exam" => "exam",
        "stats" => "stats",
        "reply" => "reply",
        "camera" => "camera",
        "info" => "info",
        other => panic!("no schema definition for topic {other:?}"),
    }
}

pub struct Validator {
    pub def: String,
    inner: jsonschema::Validator,
}

/// A validator for `$defs/<def>` of `schema` (the document itself is checked against the
/// draft 2020-12 meta-schema first).
pub fn validator_from(schema: &Value, def: &str) -> Validator {
    assert!(schema["$defs"].get(def).is_some(), "no $defs/{def} in the schema");
    let mut root = schema.clone();
    root["$ref"] = format!("#/$defs/{def}").into();
    let inner = jsonschema::draft202012::new(&root).unwrap_or_else(|e| panic!("the schema is not valid: {e}"));
    Validator {
        def: def.to_string(),
        inner,
    }
}

pub fn load() -> Value {
    serde_json::from_str(&std::fs::read_to_string(SCHEMA).unwrap()).expect("docs/schema.json is JSON")
}

/// A validator for `$defs/<def>` of docs/schema.json.
pub fn validator(def: &str) -> Validator {
    validator_from(&load(), def)
}

impl Validator {
    /// Every violation, as "instance path: message".
    pub fn errors(&self, msg: &Value) -> Vec<String> {
        self.inner
            .iter_errors(msg)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect()
    }

    /// Panics with every violation, naming the message.
    pub fn check(&self, msg: &Value, what: &str) {
        let errors = self.errors(msg);
        assert!(
            errors.is_empty(),
            "{what} does not match $defs/{} of docs/schema.json:\n  {}\nmessage: {msg}",
            self.def,
            errors.join("\n  ")
        );
    }
}
