using System.Globalization;

namespace Granary.Transactions;

/// <summary>
/// Compact text form of a finished (committed or aborted) <see cref="ParticipantEntry"/>, one string
/// per entry: <c>{C|A}{unix ms}:{fingerprint length}:{fingerprint}{transaction id}</c>.
/// A participant remembers its recent outcomes for minutes (duplicate and late messages must find
/// them) and writes them with every state change, so their stored size is paid on every prepare:
/// as one string each they cost a fraction of an object per entry in the grain-state JSON
/// (no per-object type names or reference ids) and stay below PostgreSQL's out-of-line (TOAST)
/// threshold for much longer. Open entries keep their full form (they carry inquiry times and the
/// three-phase timeout); a finished entry needs only its id, status, time and fingerprint.
/// </summary>
public static class ParticipantOutcomeCodec
{
    /// <summary>Encodes a finished entry.</summary>
    /// <exception cref="ArgumentException">The entry is still open (prepared or pre-committed).</exception>
    public static string Encode(ParticipantEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var status = entry.Status switch
        {
            ParticipantStatus.Committed => 'C',
            ParticipantStatus.Aborted => 'A',
            _ => throw new ArgumentException($"only finished entries are encoded, not {entry.Status}", nameof(entry)),
        };
        return string.Create(CultureInfo.InvariantCulture, $"{status}{entry.Since.ToUnixTimeMilliseconds()}:{entry.Fingerprint.Length}:{entry.Fingerprint}{entry.TransactionId}");
    }

    /// <summary>Decodes what <see cref="Encode"/> produced.</summary>
    /// <exception cref="FormatException">The text is not an encoded entry.</exception>
    public static ParticipantEntry Decode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var status = text.Length > 0 ? text[0] switch
        {
            'C' => ParticipantStatus.Committed,
            'A' => ParticipantStatus.Aborted,
            _ => (ParticipantStatus?)null,
        } : null;
        var timeEnd = text.IndexOf(':', StringComparison.Ordinal);
        var lengthEnd = timeEnd < 0 ? -1 : text.IndexOf(':', timeEnd + 1);
        if (status is null
            || lengthEnd < 0
            || !long.TryParse(text.AsSpan(1, timeEnd - 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var ms)
            || !int.TryParse(text.AsSpan(timeEnd + 1, lengthEnd - timeEnd - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var length)
            || length > text.Length - lengthEnd - 2)
        {
            throw new FormatException($"not an encoded participant outcome: '{text}'");
        }

        var fingerprint = text.Substring(lengthEnd + 1, length);
        var transactionId = text[(lengthEnd + 1 + length)..];
        return new ParticipantEntry(transactionId, fingerprint, status.Value, DateTimeOffset.FromUnixTimeMilliseconds(ms), null);
    }
}

/// <summary>
/// The stored texts of a participant's finished entries, each encoded once: a finished entry never
/// changes (a change replaces the entry), and the participant writes all of them with every state
/// change (about fifty under load), so encoding them anew at each write cost more than the rest of
/// the write's preparation. Keeps exactly the entries of the last call.
/// </summary>
public sealed class ParticipantOutcomeTexts
{
    private Dictionary<ParticipantEntry, string> _texts = new(ReferenceEqualityComparer.Instance);
    private Dictionary<ParticipantEntry, string> _next = new(ReferenceEqualityComparer.Instance);

    /// <summary>The <see cref="ParticipantOutcomeCodec.Encode"/> text of each finished entry of <paramref name="entries"/>, in their order.</summary>
    public List<string> Encode(IEnumerable<ParticipantEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var texts = new List<string>();
        foreach (var entry in entries)
        {
            if (entry.IsOpen)
            {
                continue;
            }

            if (!_texts.TryGetValue(entry, out var text))
            {
                text = ParticipantOutcomeCodec.Encode(entry);
            }

            _next[entry] = text;
            texts.Add(text);
        }

        (_texts, _next) = (_next, _texts);
        _next.Clear();
        return texts;
    }
}
