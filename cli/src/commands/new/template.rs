//! `micro new --template`: a service from a cargo-generate template (the Rust ecosystem's template
//! format: `cargo-generate.toml`, Liquid placeholders such as `{{project-name}}`), on disk or in a
//! git repository, rendered by the `cargo-generate` crate into micro's staging folder.
//!
//! A repository is cloned with the `git` program, as kratos does, rather than by cargo-generate's
//! own git library: that library brings a second HTTP and TLS stack (with a C crypto build) that
//! doubled the time `cargo install` takes, and the `git` program already knows the user's
//! credentials, proxies and SSH keys.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;
use cargo_generate::{GenerateArgs, TemplatePath, Vcs};

use super::choices::Asking;
use crate::output::Printer;

/// Where a template comes from.
#[derive(Debug, Clone)]
pub struct Template {
    /// A folder, or a git URL.
    pub location: String,
    /// A git branch; implies git even for a folder.
    pub branch: Option<String>,
}

/// Hosts cargo-generate users abbreviate (`gh:owner/repo`); micro takes the same spellings.
const HOST_ABBREVIATIONS: [(&str, &str); 4] = [
    ("gh:", "https://github.com/"),
    ("gl:", "https://gitlab.com/"),
    ("bb:", "https://bitbucket.org/"),
    ("sr:", "https://git.sr.ht/~"),
];

impl Template {
    /// A folder that exists is copied unless a branch is asked for; anything else is cloned.
    fn is_git(&self) -> bool {
        self.branch.is_some() || !Path::new(&self.location).is_dir()
    }

    /// What `git clone` is given: the location, with a host abbreviation written out.
    fn clone_url(&self) -> String {
        HOST_ABBREVIATIONS
            .iter()
            .find_map(|(short, host)| {
                let rest = self.location.strip_prefix(short)?;
                Some(format!("{host}{rest}"))
            })
            .unwrap_or_else(|| self.location.clone())
    }
}

/// cargo-generate, built without its git library, looks for a template's `{{authors}}` only in
/// the environment (`CARGO_NAME`, `GIT_AUTHOR_NAME`, `GIT_COMMITTER_NAME`, then `USER`…) and
/// refuses to render without one. This gives it what its git library used to read, git's
/// `user.name` and `user.email`, and an empty name when there is none at all, since most
/// templates never use it.
///
/// Changes the process's environment, so `main` calls it before any thread starts.
#[allow(unsafe_code)]
pub fn provide_author() {
    let set = |variable: &str| std::env::var_os(variable).is_some();
    let git_config = |key: &str| {
        let output = Command::new("git")
            .args(["config", "--get", key])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let value = String::from_utf8(output.stdout).ok()?.trim().to_owned();
        (output.status.success() && !value.is_empty()).then_some(value)
    };
    let mut author = Vec::new();
    if !["CARGO_NAME", "GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"]
        .into_iter()
        .any(set)
    {
        let name = git_config("user.name");
        if name.is_some() || !["USER", "USERNAME", "NAME"].into_iter().any(set) {
            author.push(("CARGO_NAME", name.unwrap_or_default()));
        }
    }
    if !["CARGO_EMAIL", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"]
        .into_iter()
        .any(set)
        && let Some(email) = git_config("user.email")
    {
        author.push(("CARGO_EMAIL", email));
    }
    for (variable, value) in author {
        // SAFETY: called from `main` before micro starts any thread, so nothing reads or writes
        // the environment concurrently.
        unsafe { std::env::set_var(variable, value) };
    }
}

/// Renders `template` as the service `name` into `staging`; returns the service's folder there.
/// Placeholders are asked on a terminal; otherwise they take the template's defaults, and a
/// placeholder without one is an error naming it.
pub fn render(
    template: &Template,
    name: &str,
    staging: &Path,
    asking: Asking,
    printer: Printer,
) -> anyhow::Result<PathBuf> {
    let spinner = |message: String| {
        (asking != Asking::Prompt && !printer.is_quiet()).then(|| {
            let spinner = indicatif::ProgressBar::new_spinner().with_message(message);
            spinner.enable_steady_tick(Duration::from_millis(100));
            spinner
        })
    };

    // The clone lives in a temporary folder for as long as rendering needs it.
    let clone = if template.is_git() {
        let folder = tempfile::Builder::new()
            .prefix(".micro-template-")
            .tempdir()
            .context("creating a folder for the template's clone")?;
        let cloning = spinner(format!("cloning template `{}`", template.location));
        let cloned = clone(template, folder.path(), asking);
        if let Some(cloning) = cloning {
            cloning.finish_and_clear();
        }
        cloned.map_err(|err| explain(template, err))?;
        Some(folder)
    } else {
        None
    };
    let folder = match &clone {
        Some(clone) => clone.path().to_owned(),
        None => std::path::absolute(&template.location)?,
    };

    let args = GenerateArgs {
        template_path: TemplatePath {
            path: Some(folder.to_string_lossy().into_owned()),
            ..TemplatePath::default()
        },
        name: Some(name.to_owned()),
        // The name is already a valid crate name; keep it exactly as given.
        force: true,
        silent: asking != Asking::Prompt,
        destination: Some(staging.to_owned()),
        vcs: Some(Vcs::None),
        // micro adds the service to an enclosing workspace itself, as for its own template.
        no_workspace: true,
        ..GenerateArgs::default()
    };
    let rendering = spinner(format!("rendering template `{}`", template.location));
    let rendered = cargo_generate::generate(args);
    if let Some(rendering) = rendering {
        rendering.finish_and_clear();
    }
    let root = rendered.map_err(|err| explain(template, err))?;
    anyhow::ensure!(
        root.join("Cargo.toml").is_file(),
        "template `{}` has no `Cargo.toml` at its root\nhint: micro's templates are Cargo packages; \
         point `--template` at the folder that holds the template's `Cargo.toml`",
        template.location
    );
    Ok(root)
}

/// Clones the template's repository (its branch, or the default one) into `into`, which exists
/// and is empty, and removes the clone's `.git` so that only the template's files are rendered.
fn clone(template: &Template, into: &Path, asking: Asking) -> anyhow::Result<()> {
    let mut git = Command::new("git");
    git.args(["clone", "--quiet", "--depth", "1", "--no-tags"])
        .args(["--recurse-submodules", "--shallow-submodules"]);
    if let Some(branch) = &template.branch {
        git.args(["--branch", branch]);
    }
    git.arg("--")
        .arg(template.clone_url())
        .arg(into)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if asking != Asking::Prompt {
        // Without a terminal, a credential prompt would wait for ever: fail instead.
        git.env("GIT_TERMINAL_PROMPT", "0").stdin(Stdio::null());
    }
    let output = match git.output() {
        Ok(output) => output,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "`git` is not installed, and micro clones templates with it\nhint: install git, or \
             clone the template yourself and pass its folder to `--template`"
        ),
        Err(err) => return Err(err).context("running `git clone`"),
    };
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        // git's own words say why (no such repository, no such branch, authentication).
        let said = said
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with("warning:"))
            .collect::<Vec<_>>()
            .join("\n  ");
        anyhow::bail!("`git clone {}` failed:\n  {said}", template.clone_url());
    }
    fs_err::remove_dir_all(into.join(".git"))?;
    Ok(())
}

/// Adds to an error from cloning or rendering what failed and what to do.
fn explain(template: &Template, err: anyhow::Error) -> anyhow::Error {
    let hint = if template.is_git() {
        match &template.branch {
            Some(branch) => format!(
                "check that `{}` is a git repository you can clone (URL, network, credentials) \
                 and that it has a branch `{branch}`",
                template.location
            ),
            None => format!(
                "`{}` is not a folder, so it was cloned with git: check the URL, the network and \
                 your credentials, or pass the template's folder",
                template.location
            ),
        }
    } else {
        "fix the template (its `cargo-generate.toml` and placeholders), or answer its questions on \
         a terminal"
            .to_owned()
    };
    err.context(format!(
        "rendering template `{}` failed\nhint: {hint}",
        template.location
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(location: &str) -> Template {
        Template {
            location: location.to_owned(),
            branch: None,
        }
    }

    #[test]
    fn host_abbreviations_are_written_out() {
        assert_eq!(
            template("gh:acme/service-template").clone_url(),
            "https://github.com/acme/service-template"
        );
        assert_eq!(
            template("sr:acme/tpl").clone_url(),
            "https://git.sr.ht/~acme/tpl"
        );
        let url = "https://example.com/gh:odd.git";
        assert_eq!(template(url).clone_url(), url);
    }
}
