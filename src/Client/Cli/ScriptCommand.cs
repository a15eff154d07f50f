using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Granary.Client.Cli;

/// <summary>
/// <c>granary script [FILE]</c>: runs one console command per line (shell quoting; blank lines and
/// lines starting with <c>#</c> are skipped) against one connection opened once, so that
/// <c>--embedded</c> starts one in-process silo for all of them. After each command it writes
/// <c>granary: exit N</c> on stdout and on stderr (so a program driving it through pipes knows
/// where each command's output ends) and it exits with the highest N.
/// </summary>
/// <example><code>
/// printf 'lock acquire orders --ttl 30\nlock status orders\n' | granary --embedded script
/// </code></example>
public static class ScriptCommand
{
    /// <summary>The connection of the running script, if any (commands borrow it instead of opening their own).</summary>
    internal static ScriptSession? Shared { get; private set; }

    /// <summary>The marker written after each command: <c>granary: exit N</c>.</summary>
    public static string ExitMarker(int code) => string.Create(CultureInfo.InvariantCulture, $"granary: exit {code}");

    /// <summary>Builds the command; <paramref name="root"/> parses each line.</summary>
    public static Command Create(RootCommand root)
    {
        ArgumentNullException.ThrowIfNull(root);
        var file = new Argument<string?>("file") { Description = "File of commands, one per line (default: standard input)", Arity = ArgumentArity.ZeroOrOne };
        var script = new Command("script", "Run console commands, one per line, against one connection (one embedded silo with --embedded)") { file };
        script.SetHandler(async (parse, output, ct) =>
        {
            if (Shared is not null)
            {
                throw new UsageException("a script cannot run another script");
            }

            var path = parse.GetValue(file);
            using var reader = path is null or "-" ? null : File.OpenText(path);
            var input = reader ?? Console.In;
            await using var session = new ScriptSession(parse.GetValue(GlobalOptions.Embedded));
            Shared = session;
            try
            {
                var worst = ExitCodes.Ok;
                while (await input.ReadLineAsync(ct) is { } line)
                {
                    var text = line.Trim();
                    if (text.Length == 0 || text.StartsWith('#'))
                    {
                        continue;
                    }

                    var code = await ConsoleApp.RunAsync(root, [.. CommandLineParser.SplitCommandLine(text)], ct);
                    await Console.Out.WriteLineAsync(ExitMarker(code));
                    await Console.Out.FlushAsync(ct);
                    await Console.Error.WriteLineAsync(ExitMarker(code));
                    await Console.Error.FlushAsync(ct);
                    worst = Math.Max(worst, code);
                }

                return worst;
            }
            finally
            {
                Shared = null;
            }
        });
        return script;
    }
}

/// <summary>The one connection of a <c>granary script</c>, opened by the first command that needs it.</summary>
internal sealed class ScriptSession(bool embedded) : IAsyncDisposable
{
    private ClusterConnection? _connection;

    /// <summary>A handle on the script's connection (opened now if this is the first command to connect).</summary>
    public async Task<ClusterConnection> ConnectAsync(bool embeddedCommand, CancellationToken ct)
    {
        _connection ??= await ClusterConnection.OpenAsync(embedded || embeddedCommand, ct);
        return _connection.Borrow();
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync();
        }
    }
}
