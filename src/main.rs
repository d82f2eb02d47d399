//! The `headroom` binary: hands the command line to [`headroom::cli`].

fn main() -> std::process::ExitCode {
    headroom::cli::main()
}
