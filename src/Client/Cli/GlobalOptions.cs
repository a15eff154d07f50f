using System.CommandLine;

namespace Granary.Client.Cli;

/// <summary>Options every command accepts.</summary>
public static class GlobalOptions
{
    /// <summary><c>--json</c>: machine-readable output on stdout.</summary>
    public static readonly Option<bool> Json = new("--json")
    {
        Description = "Print machine-readable JSON on stdout",
        Recursive = true,
    };

    /// <summary><c>--embedded</c>: run against an in-process silo with memory storage.</summary>
    public static readonly Option<bool> Embedded = new("--embedded")
    {
        Description = "Host an in-process silo with memory storage instead of connecting to a cluster",
        Recursive = true,
    };

    /// <summary>Runs an action with uniform error handling: one line on stderr and the right exit code.</summary>
    public static void SetHandler(this Command command, Func<ParseResult, Output, CancellationToken, Task<int>> action)
    {
        ArgumentNullException.ThrowIfNull(command);
        command.SetAction(async (parse, ct) =>
        {
            var output = new Output(parse.GetValue(Json));
            try
            {
                return await action(parse, output, ct);
            }
            catch (UsageException ex)
            {
                await Console.Error.WriteLineAsync("granary: " + ex.Message);
                return ExitCodes.Usage;
            }
            catch (Granary.Errors.GranaryException ex)
            {
                await Console.Error.WriteLineAsync($"granary: {ex.Code}: {ex.Message}");
                return ExitCodes.Failure;
            }
            catch (ClusterUnavailableException ex)
            {
                await Console.Error.WriteLineAsync("granary: " + ex.Message);
                return ExitCodes.Failure;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                await Console.Error.WriteLineAsync("granary: cancelled");
                return ExitCodes.Failure;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                await Console.Error.WriteLineAsync($"granary: {ex.GetType().Name}: {ex.Message}");
                return ExitCodes.Failure;
            }
        });
    }

    /// <summary>Opens the cluster connection the command line asks for.</summary>
    public static Task<ClusterConnection> ConnectAsync(ParseResult parse, CancellationToken ct, bool embeddedByDefault = false)
    {
        ArgumentNullException.ThrowIfNull(parse);
        return ClusterConnection.OpenAsync(embeddedByDefault || parse.GetValue(Embedded), ct);
    }

    /// <summary>Throws a usage error when <paramref name="value"/> is outside [min, max].</summary>
    public static int Require(int value, string option, int min, int max)
    {
        if (value < min || value > max)
        {
            throw new UsageException($"{option} must be between {min} and {max} (got {value})");
        }

        return value;
    }
}
