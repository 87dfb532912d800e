fn main() -> std::process::ExitCode {
    livestatus::cli::main()
}
