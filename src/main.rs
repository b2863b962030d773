use clap::Parser;

fn main() -> color_eyre::Result<()> {
    // Installed first, so a panic anywhere (the console included) restores the
    // terminal and still prints a report.
    color_eyre::install()?;
    let cli = dualscope::cli::Cli::parse();
    let code = dualscope::cli::main(cli)?;
    std::process::exit(code);
}
