//! Tests that walk clap's command tree: every argument a user can see has
//! help text, so `imgdex CMD --help` explains every flag it lists, and
//! every command and subcommand's help ends with examples.

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for a in cmd.get_arguments() {
            let id = a.get_id().as_str();
            let builtin = id == "help" || id == "version";
            if !a.is_hide_set() && !builtin && a.get_help().is_none() && a.get_long_help().is_none()
            {
                missing.push(format!("{path} {id}"));
            }
        }
        for s in cmd.get_subcommands() {
            walk(s, &format!("{path} {}", s.get_name()), missing);
        }
    }

    /// Commands (by path) whose long help has no "Examples:" section.
    fn without_examples(cmd: &mut clap::Command, path: &str, missing: &mut Vec<String>) {
        let help = cmd.render_long_help().to_string();
        if !help.contains("\nExamples:\n") {
            missing.push(path.to_string());
        }
        for s in cmd.get_subcommands_mut() {
            // clap's own `help` subcommand documents itself.
            if s.get_name() != "help" {
                let p = format!("{path} {}", s.get_name());
                without_examples(s, &p, missing);
            }
        }
    }

    #[test]
    fn every_command_has_examples() {
        let mut missing = Vec::new();
        let mut cmd = super::super::args::Args::command();
        cmd.build();
        without_examples(&mut cmd, "imgdex", &mut missing);
        assert!(
            missing.is_empty(),
            "commands without examples: {missing:#?}"
        );
    }

    /// The defaults `dupes --help` states are the library's.
    #[test]
    fn dupes_help_states_the_library_defaults() {
        use imgdex::jobs::dupes::{DEFAULT_EMBEDDING_RULE as E, DEFAULT_RULE as R};
        let mut cmd = super::super::args::Args::command();
        cmd.build();
        let dupes = cmd.find_subcommand_mut("dupes").expect("dupes");
        let help = dupes.render_long_help().to_string();
        // One block per option: its line and its help's lines, joined.
        let mut blocks: Vec<String> = Vec::new();
        for line in help.lines().map(str::trim) {
            match (line.starts_with('-'), blocks.last_mut()) {
                (false, Some(b)) => {
                    b.push(' ');
                    b.push_str(line);
                }
                _ => blocks.push(line.to_string()),
            }
        }
        for (flag, value) in [
            ("--threshold", R.max_phash.to_string()),
            ("--dhash-threshold", R.max_dhash.to_string()),
            ("--max-cosine", E.max_cosine.to_string()),
            ("--weak-cosine", E.weak_cosine.to_string()),
            ("--weak-phash", E.weak_phash.to_string()),
        ] {
            let stated = format!("[default: {value}, or the preset's]");
            let block = blocks
                .iter()
                .find(|b| b.starts_with(&format!("{flag} <")))
                .expect(flag);
            assert!(block.contains(&stated), "{flag}: {block}");
        }
    }

    #[test]
    fn every_visible_argument_has_help() {
        let mut missing = Vec::new();
        walk(&super::super::args::Args::command(), "imgdex", &mut missing);
        assert!(missing.is_empty(), "arguments without help: {missing:#?}");
    }
}
