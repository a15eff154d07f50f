using System.Globalization;

namespace Granary.Text;

/// <summary>
/// The rule for text that may reach storage: no U+0000 (a PostgreSQL <c>text</c> column cannot hold
/// it, and one such value fails the whole statement it is written in, other callers' rows included)
/// and no unpaired UTF-16 surrogate (UTF-8, which the wire and the database use, cannot carry it: it
/// would be refused or silently replaced). Both scans are vectorised; text without surrogates is
/// checked without a per-character loop.
/// </summary>
/// <example><code>
/// if (StorableText.Problem(key) is { } problem) { return Error("key " + problem); }
/// </code></example>
public static class StorableText
{
    /// <summary>Null when <paramref name="text"/> is storable, else what is wrong with it, e.g. "contains U+0000 at index 3".</summary>
    public static string? Problem(ReadOnlySpan<char> text)
    {
        var nul = text.IndexOf('\0');
        if (nul >= 0)
        {
            return string.Create(CultureInfo.InvariantCulture, $"contains U+0000 (NUL) at index {nul}");
        }

        var first = text.IndexOfAnyInRange('\uD800', '\uDFFF');
        if (first < 0)
        {
            return null;
        }

        for (var i = first; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                return string.Create(CultureInfo.InvariantCulture, $"contains an unpaired surrogate U+{(int)c:X4} at index {i}");
            }
        }

        return null;
    }

    /// <summary>True when <paramref name="text"/> has neither U+0000 nor an unpaired surrogate.</summary>
    public static bool IsStorable(ReadOnlySpan<char> text) => Problem(text) is null;
}
