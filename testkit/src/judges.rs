//! Where the Go-built judges are: each `scripts/<x>.sh` writes `$JUDGES_HOME/<x>.env` (default
//! `~/.cache/metal-judges`) with `export NAME="value"` lines naming what it built. Read here once
//! for every judge (the real control plane, upstream BMO, Cluster API and CAPM3).

use std::path::{Path, PathBuf};

/// `$JUDGES_HOME`, else `~/.cache/metal-judges`.
pub fn home() -> Result<PathBuf, String> {
    std::env::var_os("JUDGES_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/metal-judges")))
        .ok_or_else(|| "neither JUDGES_HOME nor HOME is set".to_string())
}

/// The variables `make <target>` wrote to `<target>.env`, or why there are none: `what` is
/// not built (the file is missing), run `make <target>`.
pub fn env_file(target: &str, what: &str) -> Result<Vec<(String, String)>, String> {
    let file = home()?.join(format!("{target}.env"));
    let text = std::fs::read_to_string(&file).map_err(|_| {
        format!(
            "{what} is not built ({} is missing): run `make {target}`",
            file.display()
        )
    })?;
    Ok(parse_env(&text))
}

/// `export NAME="value"` lines.
pub fn parse_env(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_lines_are_read_and_the_rest_ignored() {
        let vars = parse_env("# made by make capi\nexport A=\"/x y\"\nexport B=2\nC=3\n");
        assert_eq!(
            vars,
            vec![
                ("A".to_string(), "/x y".to_string()),
                ("B".to_string(), "2".to_string())
            ]
        );
    }
}
