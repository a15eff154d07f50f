using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Granary.Cli.Cli;

/// <summary>Writes human text or JSON, as the <c>--json</c> flag says.</summary>
public sealed class Output(bool json)
{
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    /// <summary>True when the caller asked for JSON.</summary>
    public bool Json { get; } = json;

    /// <summary>Serialises <paramref name="value"/> as the command's JSON document.</summary>
    public static string ToJson<T>(T value) => JsonSerializer.Serialize(value, JsonOptions);

    /// <summary>A line of human output (suppressed under <c>--json</c>).</summary>
    public void Line(string text = "")
    {
        if (!Json)
        {
            Console.Out.WriteLine(text);
        }
    }

    /// <summary>The JSON document under <c>--json</c>; otherwise nothing.</summary>
    public void Document<T>(T value)
    {
        if (Json)
        {
            Console.Out.WriteLine(ToJson(value));
        }
    }

    /// <summary>Progress for long runs, on stderr so JSON on stdout stays clean.</summary>
    public static void Progress(string text) => Console.Error.WriteLine(text);

    /// <summary>Formats a table with aligned columns.</summary>
    public void Table(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows)
    {
        ArgumentNullException.ThrowIfNull(headers);
        var all = rows.ToList();
        var widths = headers.Select((h, i) => Math.Max(h.Length, all.Count == 0 ? 0 : all.Max(r => r[i].Length))).ToArray();
        Line(string.Join("  ", headers.Select((h, i) => h.PadRight(widths[i]))).TrimEnd());
        foreach (var row in all)
        {
            Line(string.Join("  ", row.Select((c, i) => c.PadRight(widths[i]))).TrimEnd());
        }
    }
}
