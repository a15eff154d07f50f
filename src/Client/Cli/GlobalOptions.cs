using System.CommandLine;
using System.CommandLine.Parsing;
using Granary.Errors;
using Granary.Scheduling;
using Microsoft.Extensions.Options;

namespace Granary.Cli.Cli;

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

    /// <summary>
    /// <c>--token-file</c>: the file holding this client's token (overrides <c>Granary:Client</c>; a
    /// token is never taken on the command line, where other users could read it in the process list).
    /// </summary>
    public static readonly Option<string?> TokenFile = new("--token-file")
    {
        Description = "File holding the client's token (default: Granary:Client:TokenFile, e.g. from .local/cluster.json)",
        Recursive = true,
    };

    /// <summary>Runs an action with uniform error handling: one line on stderr and the right exit code.</summary>
    public static void SetHandler(this Command command, Func<ParseResult, Output, CancellationToken, Task<int>> action)
    {
        ArgumentNullException.ThrowIfNull(command);
        command.SetAction(async (parse, ct) =>
        {
            var output = new Output(parse.GetValue(Json));
            ClusterConnection.TokenFile = parse.GetValue(TokenFile) ?? ClusterConnection.TokenFile;
            try
            {
                return await action(parse, output, ct);
            }
            catch (UsageException ex)
            {
                await Console.Error.WriteLineAsync("granary: " + OneLine(ex.Message));
                return ExitCodes.Usage;
            }
            catch (GranaryException ex)
            {
                await Console.Error.WriteLineAsync($"granary: {ex.Code}: {OneLine(ex.Message)}");
                return IsInvalidArgument(ex.Code) ? ExitCodes.Usage : ExitCodes.Failure;
            }
            catch (ArgumentException ex)
            {
                // An argument the client libraries refused before any request (an empty grain key, say).
                await Console.Error.WriteLineAsync($"granary: {ErrorCodes.InvalidArgument}: {OneLine(ex.Message)}");
                return ExitCodes.Usage;
            }
            catch (TransportSecurityException ex)
            {
                await Console.Error.WriteLineAsync("granary: TLS: " + ex.Message);
                return ExitCodes.TransportSecurity;
            }
            catch (OptionsValidationException ex)
            {
                // As the silo says it: a setting (or a secrets file) that start-up refused.
                await Console.Error.WriteLineAsync("granary: invalid configuration: " + OneLine(string.Join(" ", ex.Failures)));
                return ExitCodes.Usage;
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

    /// <summary>
    /// Opens the cluster connection the command line asks for; inside <c>granary script</c> a handle
    /// on the script's one connection.
    /// </summary>
    public static Task<ClusterConnection> ConnectAsync(ParseResult parse, CancellationToken ct, bool embeddedByDefault = false)
    {
        ArgumentNullException.ThrowIfNull(parse);
        var embedded = embeddedByDefault || parse.GetValue(Embedded);
        return ScriptCommand.Shared is { } shared ? shared.ConnectAsync(embedded, ct) : ClusterConnection.OpenAsync(embedded, ct);
    }

    /// <summary>True for the codes of a request refused for its arguments: the console exits with <see cref="ExitCodes.Usage"/>.</summary>
    public static bool IsInvalidArgument(string? code) =>
        code is ErrorCodes.InvalidArgument or SchedulingErrorCodes.TaskRejected;

    /// <summary>
    /// Applies the name rule (<see cref="Guard.Name"/>: not blank, at most <paramref name="maxLength"/>
    /// characters, storable text) to an argument while parsing: a bad name is a usage error (exit
    /// code 2) before anything connects.
    /// </summary>
    public static Argument<string> Named(this Argument<string> argument, int maxLength = Limits.MaxKeyLength)
    {
        ArgumentNullException.ThrowIfNull(argument);
        argument.Validators.Add(result => CheckName(result, argument.Name, result.GetValueOrDefault<string>(), maxLength));
        return argument;
    }

    /// <summary>The name rule for an option (see <see cref="Named(Argument{string}, int)"/>); an option left out is not checked here.</summary>
    public static Option<string> Named(this Option<string> option, int maxLength = Limits.MaxKeyLength)
    {
        ArgumentNullException.ThrowIfNull(option);
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string>() is { } value)
            {
                CheckName(result, option.Name, value, maxLength);
            }
        });
        return option;
    }

    /// <summary>The name rule for an optional option: absent is fine, given it must be a valid name.</summary>
    public static Option<string?> NamedIfGiven(this Option<string?> option, int maxLength = Limits.MaxKeyLength)
    {
        ArgumentNullException.ThrowIfNull(option);
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string?>() is { } value)
            {
                CheckName(result, option.Name, value, maxLength);
            }
        });
        return option;
    }

    private static void CheckName(SymbolResult result, string name, string? value, int maxLength)
    {
        try
        {
            Guard.Name(value, name, maxLength);
        }
        catch (InvalidRequestException ex)
        {
            result.AddError(OneLine(ex.Message));
        }
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");

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
