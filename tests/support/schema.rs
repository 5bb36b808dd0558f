//! A small validator of response bodies against the spec's schemas: types, required
//! properties, enums, `$ref`, `allOf`/`oneOf`/`anyOf`, arrays and RFC 3339 `date-time`.
//! Absent optional properties are accepted, and `null` for any present property (clients
//! read it as "none"); required properties must be present.

use serde_json::Value;

/// The JSON schema of `operation_id`'s reply with `status`, if the spec declares one.
pub fn response_schema<'a>(spec: &'a Value, operation_id: &str, status: u16) -> Option<&'a Value> {
    let paths = spec["paths"].as_object()?;
    for item in paths.values() {
        for op in item.as_object()?.values() {
            if op["operationId"] == operation_id {
                return op["responses"][status.to_string()]["content"]["application/json"]
                    .get("schema");
            }
        }
    }
    None
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap_or_default();
            &spec["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// Check `value` against `schema`; the error names the JSON path that failed.
pub fn validate(spec: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(spec, schema);
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            validate(spec, s, value, at)?;
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(any) = schema.get(key).and_then(Value::as_array)
            && !any.iter().any(|s| validate(spec, s, value, at).is_ok())
        {
            return Err(format!("{at}: matches none of {key}"));
        }
    }
    if value.is_null() && schema.get("nullable") == Some(&Value::Bool(true)) {
        return Ok(());
    }
    if let Some(en) = schema.get("enum").and_then(Value::as_array)
        && !en.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {en:?}"));
    }
    let ty = schema.get("type").and_then(Value::as_str);
    let ok = match ty {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("number") => value.is_number(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("boolean") => value.is_boolean(),
        _ => true,
    };
    if !ok {
        return Err(format!("{at}: expected {}, got {value}", ty.unwrap_or("?")));
    }
    if schema.get("format").and_then(Value::as_str) == Some("date-time")
        && let Some(s) = value.as_str()
    {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map_err(|e| format!("{at}: {s:?} is not RFC 3339: {e}"))?;
    }
    if let Some(obj) = value.as_object() {
        for req in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = req.as_str().unwrap_or_default();
            if !obj.contains_key(name) {
                return Err(format!("{at}: required property {name:?} is missing"));
            }
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (name, sub) in props {
                if let Some(v) = obj.get(name) {
                    // `null` stands for "none" (an uncategorised permission, an environment
                    // role's account); clients read it so. Presence is still required.
                    if v.is_null() {
                        continue;
                    }
                    validate(spec, sub, v, &format!("{at}.{name}"))?;
                }
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            validate(spec, items, v, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// Where Tessera follows the clients instead of the spec (`compat.md`): the top-level
/// properties left out of schema validation, per operation. Tests check their real shape.
const COMPAT_OVERRIDES: &[(&str, &str)] = &[
    // compat.md §5.3: clients expect role objects in UserCreatedResponse.roles.
    ("UsersControllerV1_createUser", "roles"),
    ("UsersControllerV2_createUser", "roles"),
];

/// Replies the spec documents with the wrong schema: (operation, the schema it means).
const SCHEMA_FIXES: &[(&str, &str)] = &[
    // The spec names the request DTO as the sign-up reply; `SignUpResponseDto` is the reply.
    (
        "UsersControllerV1_signUpUser",
        r##"{"$ref": "#/components/schemas/SignUpResponseDto"}"##,
    ),
    // v1 `me/tenants` is documented as an empty placeholder object; rest-api reads
    // `{tenants, activeTenant}` (GetCurrentUserTenantsResponse, compat.md §4.1), each an
    // account as the tenants API shows it.
    (
        "UsersControllerV1_getUserTenants",
        r##"{"type": "object", "required": ["tenants", "activeTenant"], "properties": {
            "tenants": {"type": "array", "items": {"type": "object",
                "required": ["id", "tenantId", "name", "createdAt"]}},
            "activeTenant": {"type": "object", "required": ["id", "tenantId", "name"]}}}"##,
    ),
    // The template DTO documents `type` as an object; it is the type's name (Terraform
    // compares it with a string), and Tessera adds the `id` deleting needs.
    (
        "MailV1Controller_getDefaultTemplateConfiguration",
        r##"{"type": "object", "required": ["type", "subject", "htmlTemplate", "senderEmail", "redirectURL", "successRedirectUrl", "fromName", "active"],
            "properties": {"type": {"type": "string"}, "subject": {"type": "string"}, "htmlTemplate": {"type": "string"}, "active": {"type": "boolean"}}}"##,
    ),
    (
        "MailV1Controller_getTemplateConfiguration",
        r##"{"type": "array", "items": {"type": "object", "required": ["id", "type", "subject", "htmlTemplate", "active"],
            "properties": {"type": {"type": "string"}, "id": {"type": "string"}, "active": {"type": "boolean"}}}}"##,
    ),
    // `usernames/v1` is documented as one `UsernameResponseDto`; the portal reads the
    // paginated wrapper `{items: [{userId, username}]}` (compat-wave2.md §11.1).
    (
        "UsernamesControllerV1_getUsersUsernames",
        r##"{"type": "object", "required": ["items", "_metadata"], "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/UsernameResponseDto"}}}}"##,
    ),
];

/// Whether `body` is a valid reply of `operation_id` with `status` (the spec's schema, or its
/// fix, with the compatibility overrides); `None` when the spec declares no JSON reply.
pub fn check_reply(
    spec: &Value,
    operation_id: &str,
    status: u16,
    body: &Value,
) -> Option<Result<(), String>> {
    let fixed = SCHEMA_FIXES
        .iter()
        .find(|(op, _)| *op == operation_id)
        .map(|(_, schema)| serde_json::from_str::<Value>(schema).expect("a schema fix is JSON"));
    let schema = fixed
        .as_ref()
        .or_else(|| response_schema(spec, operation_id, status))?;
    let mut body = body.clone();
    for (op, field) in COMPAT_OVERRIDES {
        if *op == operation_id
            && let Some(obj) = body.as_object_mut()
        {
            obj.remove(*field);
        }
    }
    Some(validate(spec, schema, &body, "$"))
}

/// Assert that `body` is a valid reply of `operation_id` with `status`.
#[track_caller]
pub fn assert_valid(spec: &Value, operation_id: &str, status: u16, body: &Value) {
    match check_reply(spec, operation_id, status, body) {
        None => panic!("the spec declares no JSON reply for {operation_id} {status}"),
        Some(Err(e)) => {
            panic!("{operation_id} {status} reply does not match the spec: {e}\n{body}")
        }
        Some(Ok(())) => {}
    }
}

#[test]
fn the_validator_catches_what_it_should() {
    let spec = serde_json::json!({"components": {"schemas": {
        "R": {"type": "object", "required": ["id", "n"], "properties": {
            "id": {"type": "string"}, "n": {"type": "number"},
            "at": {"type": "string", "format": "date-time"},
            "kind": {"type": "string", "enum": ["A", "B"]},
            "tags": {"type": "array", "items": {"type": "string"}}}}}}});
    let s = serde_json::json!({"$ref": "#/components/schemas/R"});
    assert!(validate(&spec, &s, &serde_json::json!({"id": "x", "n": 1}), "$").is_ok());
    for bad in [
        serde_json::json!({"id": "x"}),
        serde_json::json!({"id": 1, "n": 1}),
        serde_json::json!({"id": "x", "n": 1, "at": "yesterday"}),
        serde_json::json!({"id": "x", "n": 1, "kind": "C"}),
        serde_json::json!({"id": "x", "n": 1, "tags": [1]}),
        serde_json::json!([1]),
    ] {
        assert!(validate(&spec, &s, &bad, "$").is_err(), "{bad}");
    }
}
