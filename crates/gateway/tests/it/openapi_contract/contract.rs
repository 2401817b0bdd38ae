#![allow(clippy::unwrap_used, unreachable_pub)]

//! `/openapi.json` as the probes read it: its operations, the schema at a
//! JSON pointer, and whether a value matches it.

use std::collections::HashMap;

use serde_json::{Value, json};

/// `/openapi.json`, and JSON Schema validators for the parts of it.
pub struct Contract {
    pub doc: Value,
    validators: HashMap<String, jsonschema::Validator>,
}

/// A path template or name as a JSON pointer segment.
pub fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

impl Contract {
    pub fn new(doc: Value) -> Self {
        Self { doc, validators: HashMap::new() }
    }

    /// Every operation: the invoices' before the webhooks' (no event may fire
    /// once an endpoint exists: it would be delivered), collections created
    /// into before they are read, deletions last.
    pub fn operations(&self) -> Vec<(String, String)> {
        let mut operations: Vec<(String, String)> = Vec::new();
        for (path, item) in self.doc["paths"].as_object().into_iter().flatten() {
            for method in item.as_object().into_iter().flatten().map(|(m, _)| m.clone()) {
                operations.push((path.clone(), method));
            }
        }
        let rank = |(path, method): &(String, String)| {
            let group = if path.starts_with("/v1/webhooks") { 1 } else { 0 };
            let step = match method.as_str() {
                "post" if !path.contains('{') => 0,
                "get" => 1,
                "delete" => 3,
                _ => 2,
            };
            (group, step, path.clone())
        };
        operations.sort_by_key(rank);
        operations
    }

    /// The value at `pointer`, following a `$ref` there.
    pub fn at(&self, pointer: &str) -> &Value {
        let value = self.doc.pointer(pointer).unwrap_or(&Value::Null);
        match value["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
            Some(target) => self.at(target),
            None => value,
        }
    }

    /// Whether `value` matches the schema at `pointer`; why not, if not.
    pub fn check(&mut self, pointer: &str, value: &Value) -> Result<(), String> {
        if !self.validators.contains_key(pointer) {
            let mut root = self.doc.clone();
            // A JSON pointer in a URI fragment: braces (path templates) are percent-encoded.
            root["$ref"] = json!(format!("#{}", pointer.replace('{', "%7B").replace('}', "%7D")));
            let validator = jsonschema::draft202012::options()
                .should_validate_formats(true)
                .build(&root)
                .unwrap_or_else(|e| panic!("the schema at {pointer} does not compile: {e}"));
            self.validators.insert(pointer.to_owned(), validator);
        }
        self.validators[pointer].validate(value).map_err(|e| format!("{e} at {}", e.instance_path()))
    }
}
