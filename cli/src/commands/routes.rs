//! `micro routes`: every operation of the project's contracts, by the gRPC name both transports
//! label it with, next to its HTTP bindings, read from the contracts themselves (no build needed).

use std::path::Path;

use crate::codegen::model::{Body, HttpBinding, Method, Package};
use crate::project::Project;

pub fn run(cwd: &Path) -> anyhow::Result<()> {
    let project = Project::find(cwd)?;
    let (_, packages) = crate::contracts::read(&project)?;
    print!("{}", table(&packages));
    Ok(())
}

/// The routes as an aligned table: one row per binding, the operation named on its first row.
pub fn table(packages: &[Package]) -> String {
    let mut rows: Vec<[String; 3]> = vec![["OPERATION".into(), "HTTP".into(), "NOTES".into()]];
    for service in packages.iter().flat_map(|p| &p.services) {
        for method in &service.methods {
            let operation = format!("/{}/{}", service.full_name, method.name);
            let notes = notes(method);
            if method.bindings.is_empty() {
                rows.push([
                    operation.clone(),
                    "-".into(),
                    join(notes.clone(), "gRPC only"),
                ]);
            }
            for (i, binding) in method.bindings.iter().enumerate() {
                let operation = if i == 0 {
                    operation.clone()
                } else {
                    String::new()
                };
                let mut notes = notes.clone();
                notes.extend(binding_notes(binding));
                rows.push([
                    operation,
                    format!("{} {}", binding.verb, binding.template.text),
                    notes.join(", "),
                ]);
            }
        }
    }
    let widths: Vec<usize> = (0..2)
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for [operation, http, notes] in rows {
        let line = format!(
            "{operation:<w0$}  {http:<w1$}  {notes}",
            w0 = widths[0],
            w1 = widths[1]
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn notes(method: &Method) -> Vec<String> {
    let shape = match (method.client_streaming, method.server_streaming) {
        (false, false) => None,
        (false, true) => Some("server streaming (HTTP: server-sent events)"),
        (true, false) => Some("client streaming"),
        (true, true) => Some("bidirectional streaming"),
    };
    shape.into_iter().map(str::to_owned).collect()
}

fn binding_notes(binding: &HttpBinding) -> Vec<String> {
    let mut notes = Vec::new();
    match &binding.body {
        Body::None => {}
        Body::Whole => notes.push("body: *".to_owned()),
        Body::Field(field) => notes.push(format!("body: {}", field.dotted())),
    }
    if let Some(field) = &binding.response_body {
        notes.push(format!("response body: {}", field.dotted()));
    }
    notes
}

fn join(mut notes: Vec<String>, last: &str) -> String {
    notes.push(last.to_owned());
    notes.join(", ")
}
