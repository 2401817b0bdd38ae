#![allow(clippy::unwrap_used, unreachable_pub)]

//! Requests derived from the description, sent to the gateway, and their
//! answers held against it.

use std::collections::{BTreeSet, HashMap};

use coffer_domain::Scope;
use serde_json::{Value, json};

use super::candidates;
use super::contract::{Contract, escape};
use super::request::{Body, Request, as_text, send};
use crate::helpers::TestApp;

/// What an answer to a probe must be.
#[derive(Clone, Copy, PartialEq)]
enum Expect {
    /// Admitted or refused, as the description says of the request.
    Description,
    /// Exactly this status.
    Status(u16),
    /// A refusal: the request is outside the description.
    Refused,
    /// Not refused if the description admits it; anything if not.
    NotRefusedIfAdmitted,
}

/// A run of probes against one gateway.
pub struct Run<'a> {
    app: &'a TestApp,
    pub contract: Contract,
    /// Ids the gateway handed out, to fill path parameters with.
    ids: Vec<String>,
    /// Resources made by probes, with their deleting operation's path.
    created: Vec<String>,
    keys: HashMap<String, String>,
    /// The operator's token, for the operations it guards (`operator_token` security).
    operator: Option<String>,
    failures: Vec<(String, String)>,
    statuses: BTreeSet<String>,
    sent: usize,
}

impl<'a> Run<'a> {
    pub fn new(app: &'a TestApp, contract: Contract, operator: Option<String>) -> Self {
        Self {
            app,
            contract,
            ids: Vec::new(),
            created: Vec::new(),
            keys: HashMap::new(),
            operator,
            failures: Vec::new(),
            statuses: BTreeSet::new(),
            sent: 0,
        }
    }

    /// The failures, grouped by operation, status, code and kind, each with
    /// how often it happened and its first three probes.
    pub fn failures(&self) -> Vec<String> {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for (key, example) in &self.failures {
            match groups.iter_mut().find(|(k, _)| k == key) {
                Some((_, examples)) => examples.push(example.clone()),
                None => groups.push((key.clone(), vec![example.clone()])),
            }
        }
        let shown =
            |examples: &[String]| examples.iter().take(3).map(|e| format!("\n    {e:.300}")).collect::<String>();
        groups
            .into_iter()
            .map(|(key, examples)| format!("{key} ({}×), e.g.{}", examples.len(), shown(&examples)))
            .collect()
    }

    pub fn failed(&self) -> usize {
        self.failures.len()
    }

    pub fn sent(&self) -> usize {
        self.sent
    }

    pub fn seen(&self, status: &str) -> bool {
        self.statuses.contains(status)
    }

    /// Deletes what the probes made (webhook endpoints), where the API can.
    pub async fn clean_up(&mut self) {
        for path in std::mem::take(&mut self.created) {
            let _ = self.app.client.delete(self.app.url(&path)).bearer_auth(&self.app.key).send().await;
        }
    }

    /// A key with every scope but `scope`.
    async fn key_without(&mut self, scope: &str) -> String {
        if !self.keys.contains_key(scope) {
            let others: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).filter(|s| *s != scope).collect();
            let key = self.app.key_for(self.app.merchant, &others.join(",")).await;
            self.keys.insert(scope.to_owned(), key);
        }
        self.keys[scope].clone()
    }

    /// Sends every probe of one operation and checks every answer.
    pub async fn exercise(&mut self, path: &str, method: &str) {
        let op_pointer = format!("/paths/{}/{method}", escape(path));
        let op = self.contract.at(&op_pointer).clone();
        let base = self.base(&op_pointer, &op);
        let mut probes = vec![("the examples".to_owned(), base.clone(), Expect::Description)];
        if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
            for (what, authorization, status) in [
                ("no key", None, 401),
                ("a malformed key", Some("Bearer coffer_sk_nope".to_owned()), 401),
                ("another scheme", Some("Basic Zm9vOmJhcg==".to_owned()), 401),
            ] {
                probes.push((what.into(), Request { authorization, ..base.clone() }, Expect::Status(status)));
            }
            let scopes: Vec<String> = op["security"][0]["api_key"]
                .as_array()
                .map(|s| s.iter().filter_map(|s| s.as_str().map(String::from)).collect())
                .unwrap_or_default();
            // The operator's token has no scopes: it is right or wrong (401).
            if scopes.is_empty() && !operator_only(&op) {
                self.failures.push((format!("{op_pointer}: names no scope for its key"), "403 is a mystery".into()));
            }
            for scope in scopes {
                let key = self.key_without(&scope).await;
                let what = format!("a key with every scope but {scope}");
                probes.push((
                    what,
                    Request { authorization: Some(format!("Bearer {key}")), ..base.clone() },
                    Expect::Status(403),
                ));
            }
        }
        for (index, param) in op["parameters"].as_array().cloned().unwrap_or_default().iter().enumerate() {
            let name = param["name"].as_str().unwrap_or_default().to_owned();
            let schema = self.contract.at(&format!("{op_pointer}/parameters/{index}/schema")).clone();
            for value in candidates::for_field(&[&schema], &self.ids) {
                let Some(text) = as_text(&value) else { continue };
                let mut request = base.clone();
                match param["in"].as_str() {
                    Some("path") => drop(request.path.insert(name.clone(), text.clone())),
                    // A required parameter is in the base request already: replace it.
                    Some("query") => {
                        request.query.retain(|(n, _)| *n != name);
                        request.query.push((name.clone(), text.clone()))
                    }
                    // Spaces around a header value are not part of it (RFC 9110 §5.5).
                    Some("header") if reqwest::header::HeaderValue::from_str(&text).is_ok() => {
                        request.headers.push((name.clone(), text.trim_matches([' ', '\t']).to_owned()))
                    }
                    _ => continue,
                }
                probes.push((format!("{name} = {value}"), request, Expect::Description));
            }
            if param["in"] == "path" {
                let request = Request { raw_path: Some((name.clone(), "%FF".into())), ..base.clone() };
                probes.push((format!("{name} = %FF"), request, Expect::Refused));
            }
        }
        if let Body::Json(body) = &base.body {
            self.body_probes(&op_pointer, body, &base, &mut probes);
        }
        for (what, request, expect) in probes {
            self.probe(path, method, &op_pointer, &what, &request, expect).await;
        }
    }

    /// The request the description's examples make, with ids the gateway handed out in the path.
    fn base(&mut self, op_pointer: &str, op: &Value) -> Request {
        let mut request = Request {
            path: HashMap::new(),
            raw_path: None,
            query: Vec::new(),
            headers: Vec::new(),
            body: Body::None,
            authorization: Some(format!("Bearer {}", self.app.key)),
        };
        if operator_only(op) {
            match &self.operator {
                Some(token) => request.authorization = Some(format!("Bearer {token}")),
                None => self
                    .failures
                    .push((format!("{op_pointer}: needs an operator token, and none is configured"), String::new())),
            }
        }
        for param in op["parameters"].as_array().into_iter().flatten() {
            let name = param["name"].as_str().unwrap_or_default().to_owned();
            if param["in"] == "path" {
                // An id the gateway made, of the kind the parameter names (its pattern, or else its description).
                let hint = format!("{} {}", param["schema"]["pattern"], param["description"]);
                let id =
                    self.ids.iter().find(|id| id.split_once('_').is_some_and(|(p, _)| hint.contains(&format!("{p}_"))));
                let prefix = hint.split('_').next().and_then(|h| h.rsplit(['^', '`']).next()).unwrap_or("x");
                let unknown = format!("{prefix}_0190f2a1b2c37d4e8f9a0b1c2d3e4f50");
                request.path.insert(name, id.cloned().unwrap_or(unknown));
            } else if param["required"] == true {
                let example = candidates::example(param).or_else(|| candidates::example(&param["schema"]));
                match example.as_ref().and_then(as_text) {
                    Some(text) if param["in"] == "query" => request.query.push((name, text)),
                    Some(text) => request.headers.push((name, text)),
                    None => self
                        .failures
                        .push((format!("{op_pointer}: required parameter {name} has no example"), String::new())),
                }
            }
        }
        let body_pointer = format!("{op_pointer}/requestBody/content/application~1json/schema");
        if self.contract.doc.pointer(&body_pointer).is_some() {
            let schema = self.contract.at(&body_pointer).clone();
            let mut body = serde_json::Map::new();
            for (name, property) in schema["properties"].as_object().into_iter().flatten() {
                let property = match property["$ref"].as_str() {
                    Some(r) => self.contract.at(r.trim_start_matches('#')).clone(),
                    None => property.clone(),
                };
                match candidates::example(&property) {
                    Some(example) => drop(body.insert(name.clone(), example)),
                    None if schema["required"].as_array().is_some_and(|r| r.contains(&json!(name))) => self
                        .failures
                        .push((format!("{body_pointer}: required field {name} has no example"), String::new())),
                    None => {}
                }
            }
            request.body = Body::Json(Value::Object(body));
        }
        request
    }

    fn body_probes(&self, op_pointer: &str, body: &Value, base: &Request, probes: &mut Vec<(String, Request, Expect)>) {
        let schema = self.contract.at(&format!("{op_pointer}/requestBody/content/application~1json/schema"));
        let with = |body: Body| Request { body, ..base.clone() };
        for (name, property) in schema["properties"].as_object().into_iter().flatten() {
            // The field's schema and what each branch of a oneOf, anyOf or allOf adds to it.
            let mut schemas = vec![property];
            for combinator in ["oneOf", "anyOf", "allOf"] {
                for branch in schema[combinator].as_array().into_iter().flatten() {
                    schemas.extend(branch["properties"].get(name));
                }
            }
            // A field that says it takes more than its schema: its refusals are checked, not its acceptances.
            let lenient = property.get("x-accepted-beyond-schema").is_some();
            for value in candidates::for_field(&schemas, &self.ids) {
                let mut changed = body.clone();
                changed[name] = value.clone();
                let expect = if lenient { Expect::NotRefusedIfAdmitted } else { Expect::Description };
                probes.push((format!("{name} = {value}"), with(Body::Json(changed)), expect));
            }
            let mut without = body.clone();
            without.as_object_mut().map(|o| o.remove(name));
            probes.push((format!("without {name}"), with(Body::Json(without)), Expect::Description));
        }
        let mut extra = body.clone();
        extra["surprise"] = json!(1);
        probes.push(("an unknown field".into(), with(Body::Json(extra)), Expect::Description));
        for other in [json!([]), json!("text"), json!(null), json!(1)] {
            probes.push((format!("the body {other}"), with(Body::Json(other)), Expect::Description));
        }
        let text = serde_json::to_vec(body).unwrap();
        let large = serde_json::to_vec(&json!({"pad": "x".repeat(coffer_gateway::MAX_BODY_BYTES)})).unwrap();
        for (what, raw) in [
            ("malformed JSON", Body::Raw(b"{\"amount\": ".to_vec(), Some("application/json"))),
            ("JSON as text/plain", Body::Raw(text.clone(), Some("text/plain"))),
            ("JSON without a Content-Type", Body::Raw(text, None)),
            ("a body over the limit", Body::Raw(large, Some("application/json"))),
        ] {
            probes.push((what.into(), with(raw), Expect::Refused));
        }
    }

    /// Whether the description admits `request` for this operation (its credentials aside).
    fn admitted(&mut self, op_pointer: &str, request: &Request) -> bool {
        let op = self.contract.at(op_pointer).clone();
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        if request.raw_path.is_some()
            || request.query.iter().any(|(n, _)| !params.iter().any(|p| p["name"] == n.as_str()))
        {
            return false;
        }
        for (index, param) in params.iter().enumerate() {
            let name = param["name"].as_str().unwrap_or_default();
            let value = match param["in"].as_str() {
                Some("path") => request.path.get(name).cloned(),
                Some("query") => request.query.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()),
                _ => request.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()),
            };
            let pointer = format!("{op_pointer}/parameters/{index}/schema");
            match value {
                None if param["required"] == true => return false,
                None => {}
                Some(text) => {
                    // Parameter text is a string, or the number it spells, whichever the schema reads.
                    let as_number = text.parse::<i64>().ok().map(|n| json!(n));
                    let read = [Some(json!(text)), as_number]
                        .into_iter()
                        .flatten()
                        .any(|v| self.contract.check(&pointer, &v).is_ok());
                    if !read {
                        return false;
                    }
                }
            }
        }
        let body_pointer = format!("{op_pointer}/requestBody/content/application~1json/schema");
        match &request.body {
            Body::Json(body) => self.contract.check(&body_pointer, body).is_ok(),
            Body::Raw(..) => false,
            Body::None => op["requestBody"]["required"] != true,
        }
    }

    async fn probe(
        &mut self,
        path: &str,
        method: &str,
        op_pointer: &str,
        what: &str,
        request: &Request,
        expect: Expect,
    ) {
        let admitted = match expect {
            Expect::Description | Expect::NotRefusedIfAdmitted => self.admitted(op_pointer, request),
            _ => false,
        };
        let (status, content_type, text) = send(self.app, path, method, request).await;
        self.sent += 1;
        self.statuses.insert(status.to_string());
        let body: Option<Value> = serde_json::from_str(&text).ok();
        let code = body.as_ref().and_then(|b| b["error"]["code"].as_str()).unwrap_or_default().to_owned();
        let fail = |failures: &mut Vec<(String, String)>, kind: &str, detail: String| {
            let key = format!("{} {path}: {status} {code}: {kind}", method.to_uppercase());
            failures.push((key, format!("{what}: {detail}")));
        };
        let response_pointer = format!("{op_pointer}/responses/{status}");
        let Some(documented) = self.contract.doc.pointer(&response_pointer).cloned() else {
            fail(&mut self.failures, "a status the operation does not list", format!("{text:.200}"));
            return;
        };
        if documented.pointer("/content/application~1json").is_some() {
            let schema = format!("{response_pointer}/content/application~1json/schema");
            match &body {
                _ if !content_type.starts_with("application/json") => {
                    fail(&mut self.failures, "not JSON", format!("{content_type:?}: {text:.200}"))
                }
                None => fail(&mut self.failures, "no JSON", format!("{text:.200}")),
                Some(body) => {
                    if let Err(why) = self.contract.check(&schema, body) {
                        fail(&mut self.failures, "a body its schema refuses", format!("{why}: {text:.300}"));
                    }
                }
            }
        }
        let beyond = documented["x-refused-beyond-schema"].as_array().is_some_and(|c| c.contains(&json!(code)));
        match expect {
            Expect::Status(wanted) if status != wanted => {
                fail(&mut self.failures, "not the status due", format!("{wanted} was due"))
            }
            Expect::Description | Expect::NotRefusedIfAdmitted
                if admitted && [400, 413, 415, 422].contains(&status) && !beyond =>
            {
                fail(&mut self.failures, "refused for a rule the description does not state", format!("{text:.200}"))
            }
            Expect::Description | Expect::Refused if !admitted && !(400..500).contains(&status) => {
                fail(&mut self.failures, "accepted, though outside the description", String::new())
            }
            _ => {}
        }
        if (200..300).contains(&status)
            && let Some(extra) = self.remember(path, method, body.as_ref())
        {
            // One resource of a kind is enough to read and delete; more would run into the
            // merchant's caps (16 webhook endpoints).
            let _ = self.app.client.delete(self.app.url(&extra)).bearer_auth(&self.app.key).send().await;
        }
    }

    /// Ids in an answer, and the resource a creation made: kept if it is the
    /// first of its kind, else returned to be deleted at once.
    fn remember(&mut self, path: &str, method: &str, body: Option<&Value>) -> Option<String> {
        // The `id` of each object in the answer (not what a client wrote, such as metadata).
        fn walk(value: &Value, ids: &mut Vec<String>) {
            match value {
                Value::Array(items) => items.iter().for_each(|v| walk(v, ids)),
                Value::Object(map) => {
                    if let Some(Value::String(id)) = map.get("id")
                        && !ids.contains(id)
                    {
                        ids.push(id.clone());
                    }
                    map.iter().filter(|(k, _)| *k != "metadata").for_each(|(_, v)| walk(v, ids));
                }
                _ => {}
            }
        }
        let body = body?;
        let deletable = self.contract.doc["paths"][format!("{path}/{{id}}")].get("delete").is_some();
        let made = body["id"].as_str().filter(|_| method == "post" && deletable).map(|id| format!("{path}/{id}"));
        if let Some(made) = made {
            let prefix = format!("{path}/");
            if self.created.iter().any(|c| c.starts_with(&prefix)) {
                return Some(made);
            }
            self.created.push(made);
        }
        walk(body, &mut self.ids);
        None
    }
}

/// Whether the operation takes the operator's token, not an API key.
fn operator_only(op: &Value) -> bool {
    op["security"].as_array().is_some_and(|s| s.iter().all(|r| r.get("operator_token").is_some()))
}
