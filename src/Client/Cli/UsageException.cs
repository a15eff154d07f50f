namespace Granary.Cli.Cli;

/// <summary>A bad command line: printed as one line, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);
