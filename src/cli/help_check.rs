//! A test that walks clap's command tree: every argument a user can see
//! has help text, so `imgdex CMD --help` explains every flag it lists.

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

    #[test]
    fn every_visible_argument_has_help() {
        let mut missing = Vec::new();
        walk(&super::super::args::Args::command(), "imgdex", &mut missing);
        assert!(missing.is_empty(), "arguments without help: {missing:#?}");
    }
}
