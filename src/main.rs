use clap::Parser;
use std::io::IsTerminal;

fn main() {
    // Installed first, so a panic anywhere (the console included) restores the
    // terminal and still prints a report; colour only on a terminal that has
    // not asked for none (NO_COLOR).
    let plain = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) || !std::io::stderr().is_terminal();
    let hook = color_eyre::config::HookBuilder::default()
        .display_location_section(false)
        .display_env_section(false);
    let hook = if plain {
        hook.theme(color_eyre::config::Theme::new())
    } else {
        hook
    };
    if let Err(e) = hook.install() {
        eprintln!("dualscope: {e}");
    }
    let cli = dualscope::cli::Cli::parse();
    match dualscope::cli::main(cli) {
        Ok(code) => std::process::exit(code),
        Err(report) => {
            // An error is for the person at the instrument: what went wrong,
            // in one line of plain words, not the source file it came from;
            // the full report only when RUST_BACKTRACE asks for it.
            if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
                eprintln!("{report:?}");
            } else {
                let words: Vec<String> = report.chain().map(|c| c.to_string()).collect();
                eprintln!("dualscope: {}", words.join(": "));
            }
            std::process::exit(1);
        }
    }
}
