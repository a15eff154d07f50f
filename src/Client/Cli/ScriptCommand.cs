using System.CommandLine;
using System.Globalization;

namespace Granary.Cli.Cli;

/// <summary>
/// <c>granary script [FILE]</c>: runs one console command per line (shell quoting, <see cref="ShellWords"/>; blank lines and
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

                    var code = ShellWords.TrySplit(text, out var words, out var error)
                        ? await ConsoleApp.RunAsync(root, words, ct)
                        : await UsageErrorAsync(error);
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

    private static async Task<int> UsageErrorAsync(string error)
    {
        await Console.Error.WriteLineAsync($"granary: {error} (see 'granary --help')");
        return ExitCodes.Usage;
    }
}

/// <summary>
/// Splits a script line into words as a POSIX shell does for plain words: <c>'...'</c> keeps
/// everything literally, <c>"..."</c> keeps everything but <c>\"</c> and <c>\\</c>, a backslash outside
/// quotes escapes the next character, and <c>''</c> is an empty word. So a command copied from the
/// documentation runs as it would in a shell.
/// </summary>
internal static class ShellWords
{
    /// <summary>The words of <paramref name="line"/>, or false with the reason (an unclosed quote).</summary>
    public static bool TrySplit(string line, out string[] words, out string error)
    {
        var result = new List<string>();
        var word = new System.Text.StringBuilder();
        var inWord = false;
        char? quote = null;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (quote == '\'')
            {
                if (c == '\'')
                {
                    quote = null;
                }
                else
                {
                    word.Append(c);
                }
            }
            else if (quote == '"')
            {
                if (c == '"')
                {
                    quote = null;
                }
                else if (c == '\\' && i + 1 < line.Length && line[i + 1] is '"' or '\\')
                {
                    word.Append(line[++i]);
                }
                else
                {
                    word.Append(c);
                }
            }
            else if (char.IsWhiteSpace(c))
            {
                if (inWord)
                {
                    result.Add(word.ToString());
                    word.Clear();
                    inWord = false;
                }
            }
            else
            {
                inWord = true;
                if (c is '\'' or '"')
                {
                    quote = c;
                }
                else if (c == '\\' && i + 1 < line.Length)
                {
                    word.Append(line[++i]);
                }
                else
                {
                    word.Append(c);
                }
            }
        }

        if (quote is { } open)
        {
            words = [];
            error = $"unclosed {open} quote";
            return false;
        }

        if (inWord)
        {
            result.Add(word.ToString());
        }

        words = [.. result];
        error = string.Empty;
        return true;
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
