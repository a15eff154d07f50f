using System.CommandLine;

namespace Granary.Cli.Cli;

/// <summary>Parses and runs one command line: a parse error is one line on stderr and exit code 2.</summary>
public static class ConsoleApp
{
    /// <summary>Runs <paramref name="args"/> against <paramref name="root"/> and returns the exit code.</summary>
    public static async Task<int> RunAsync(RootCommand root, string[] args, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(root);
        var parse = root.Parse(args);
        if (BenchForwarder.Owns(parse))
        {
            // The bench tool parses, helps and answers for itself.
            return await BenchForwarder.RunAsync(args, ct);
        }

        if (parse.Errors.Count > 0)
        {
            // One clear line, exit 2: the usual contract for a bad command line.
            var error = parse.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? parse.Errors[0];
            await Console.Error.WriteLineAsync($"granary: {error.Message.ReplaceLineEndings(" ")} (see 'granary --help')");
            return ExitCodes.Usage;
        }

        return await parse.InvokeAsync(cancellationToken: ct);
    }
}
