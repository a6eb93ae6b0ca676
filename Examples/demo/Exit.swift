import Glibc

/// Ends the demo with a status code.
func exitProcess(_ code: Int32) -> Never {
    exit(code)
}
