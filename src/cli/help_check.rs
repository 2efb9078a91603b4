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

    #[test]
    fn every_visible_argument_has_help() {
        let mut missing = Vec::new();
        walk(&super::super::args::Args::command(), "imgdex", &mut missing);
        assert!(missing.is_empty(), "arguments without help: {missing:#?}");
    }
}
