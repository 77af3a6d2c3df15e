//! The choices that shape a new service. A flag answers its question; on a terminal the rest are
//! asked (dialoguer); otherwise, or with `--yes`, they take their defaults and micro names the
//! flags it assumed, so a script's log says how to reproduce or change the result.

use clap::ValueEnum;
use dialoguer::Select;
use dialoguer::theme::ColorfulTheme;

use crate::cli::{Auth, Messaging, Registry, Storage};
use crate::output::Printer;
use crate::scaffold::{Choices, Transports, value_name};

/// The answers given so far: by flags, `None` where no flag was passed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Given {
    pub storage: Option<Storage>,
    pub messaging: Option<Messaging>,
    pub auth: Option<Auth>,
    pub transport: Option<Transports>,
    pub registry: Option<Registry>,
    /// `--one-port`; never asked (the split ports are what most platforms expect).
    pub one_port: bool,
}

/// How unanswered questions get their answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asking {
    /// Prompt on the terminal.
    Prompt,
    /// Take the defaults because `--yes` said so.
    Yes,
    /// Take the defaults because there is no terminal to ask on.
    NoTerminal,
}

impl Asking {
    /// Prompts only when a person can answer: stdin and stderr are both terminals.
    pub fn detect(yes: bool) -> Asking {
        use std::io::IsTerminal as _;
        if yes {
            Asking::Yes
        } else if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
            Asking::Prompt
        } else {
            Asking::NoTerminal
        }
    }
}

/// Fills in every choice the flags left open.
pub fn decide(given: Given, asking: Asking, printer: Printer) -> anyhow::Result<Choices> {
    let mut defaulted = Vec::new();
    let mut ask = Question {
        asking,
        defaulted: &mut defaulted,
    };
    let choices = Choices {
        storage: ask.one(
            "storage",
            "Where does the service keep its data?",
            given.storage,
        )?,
        messaging: ask.one("messaging", "Does it publish events?", given.messaging)?,
        auth: ask.one("auth", "How do callers authenticate?", given.auth)?,
        transport: ask.transports(given.transport)?,
        registry: ask.one(
            "registry",
            "How does it find the services it calls?",
            given.registry,
        )?,
        one_port: given.one_port,
    };
    if choices.one_port && !choices.transport.grpc {
        anyhow::bail!(
            "`--one-port` puts gRPC on the HTTP port, and this service has no gRPC\nhint: add it \
             (`--transport http,grpc`), or leave out `--one-port`"
        );
    }
    if !defaulted.is_empty() {
        let why = match asking {
            Asking::Yes => "--yes",
            _ => "no terminal to ask on",
        };
        printer.status(
            "Defaulted",
            format!("{} ({why}; see `micro new --help`)", defaulted.join(" ")),
        );
    }
    Ok(choices)
}

struct Question<'a> {
    asking: Asking,
    defaulted: &'a mut Vec<String>,
}

impl Question<'_> {
    /// The answer to one question: the flag's value, the person's pick, or the default.
    fn one<T: ValueEnum + Default + Copy + PartialEq>(
        &mut self,
        flag: &str,
        prompt: &str,
        given: Option<T>,
    ) -> anyhow::Result<T> {
        if let Some(value) = given {
            return Ok(value);
        }
        let default = T::default();
        if self.asking != Asking::Prompt {
            self.defaulted
                .push(format!("--{flag} {}", value_name(default)));
            return Ok(default);
        }
        let variants = T::value_variants();
        let items: Vec<String> = variants
            .iter()
            .map(|variant| {
                let value = variant.to_possible_value().expect("no choice is hidden");
                let help = value
                    .get_help()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                format!("{:<9} {help}", value.get_name())
            })
            .collect();
        let picked = Select::with_theme(&ColorfulTheme::default())
            .with_prompt(format!("{prompt} (--{flag})"))
            .items(&items)
            .default(variants.iter().position(|v| *v == default).unwrap_or(0))
            .interact()?;
        Ok(variants[picked])
    }

    /// The transports: a list on the command line, one of the useful combinations on a terminal.
    fn transports(&mut self, given: Option<Transports>) -> anyhow::Result<Transports> {
        if let Some(transports) = given {
            return Ok(transports);
        }
        let default = Transports::default();
        if self.asking != Asking::Prompt {
            self.defaulted.push(format!("--transport {default}"));
            return Ok(default);
        }
        let items: Vec<String> = Transports::OFFERED
            .iter()
            .map(|transports| format!("{:<14} {}", transports.to_string(), describe(*transports)))
            .collect();
        let picked = Select::with_theme(&ColorfulTheme::default())
            .with_prompt("Which transports serve the contract? (--transport)")
            .items(&items)
            .default(0)
            .interact()?;
        Ok(Transports::OFFERED[picked])
    }
}

/// One line on what a combination of transports serves.
fn describe(transports: Transports) -> &'static str {
    match (transports.http, transports.grpc, transports.nats) {
        (true, true, false) => {
            "HTTP/JSON on :8000 and gRPC on :9000, one implementation behind both"
        }
        (true, false, false) => "HTTP/JSON only",
        (false, true, false) => "gRPC only (HTTP keeps health, readiness and metrics)",
        (true, true, true) => "HTTP/JSON, gRPC, and NATS request-reply (a NATS micro service)",
        _ => "gRPC and NATS request-reply (HTTP keeps health, readiness and metrics)",
    }
}
