using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace Granary.Transactions;

/// <summary>
/// Compact text form of a finished (committed or aborted) <see cref="ParticipantEntry"/>, one string
/// per entry: <c>{c|a}{time}{fingerprint length}:{fingerprint}{id}</c>, where the time is the unix
/// milliseconds as 8 base64url characters (6 bytes, big-endian) and the id is <c>~</c> and the 22
/// base64url characters of its 16 bytes when it is an SDK id (<c>tx-</c> and 32 lowercase hex
/// digits), else <c>=</c> and the id as given.
/// A participant remembers its recent outcomes (every one younger than the prepare timeout plus the
/// clock skew: about fifty per account when 1,000 accounts make 2,500 transfers a second) and writes them with
/// every state change, so their stored size is paid on every prepare: one text each, with no
/// per-object type names or reference ids, and with the time and an SDK id packed, an outcome of a
/// transfer takes 41 characters (61 in the first text form, about 210 as a JSON object); all of a
/// participant's texts are stored as one block (<see cref="ParticipantOutcomeTexts"/>). Open
/// entries keep their full form (they carry inquiry times and the three-phase timeout); a finished
/// entry needs only its id, status, time and fingerprint.
/// Texts of the first form (<c>{C|A}{unix ms}:{fingerprint length}:{fingerprint}{id}</c>) are still
/// read; the next write stores them in this one.
/// </summary>
public static class ParticipantOutcomeCodec
{
    private const int SdkIdHexDigits = 32;
    private const int SdkIdBytes = 16;
    private const int SdkIdChars = 22;
    private const int TimeBytes = 6;
    private const int TimeChars = 8;
    private const char PackedId = '~';
    private const char PlainId = '=';

    /// <summary>Ends each text in a block: 0xFF, a byte that valid UTF-8 never holds.</summary>
    internal const byte BlockEnd = 0xFF;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Encodes a finished entry.</summary>
    /// <exception cref="ArgumentException">The entry is still open (prepared or pre-committed).</exception>
    public static string Encode(ParticipantEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var status = entry.Status switch
        {
            ParticipantStatus.Committed => 'c',
            ParticipantStatus.Aborted => 'a',
            _ => throw new ArgumentException($"only finished entries are encoded, not {entry.Status}", nameof(entry)),
        };
        var ms = entry.Since.ToUnixTimeMilliseconds();
        if (ms < 0)
        {
            // Before 1970 (a test clock): the first form, which takes a sign.
            return string.Create(CultureInfo.InvariantCulture, $"{char.ToUpperInvariant(status)}{ms}:{entry.Fingerprint.Length}:{entry.Fingerprint}{entry.TransactionId}");
        }

        Span<byte> time = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(time, ms);
        var id = PackSdkId(entry.TransactionId) is { } packed ? PackedId + packed : PlainId + entry.TransactionId;
        return string.Create(CultureInfo.InvariantCulture, $"{status}{Base64Url.EncodeToString(time[(8 - TimeBytes)..])}{entry.Fingerprint.Length}:{entry.Fingerprint}{id}");
    }

    /// <summary>Decodes what <see cref="Encode"/> produced, or a text of the first form.</summary>
    /// <exception cref="FormatException">The text is not an encoded entry.</exception>
    public static ParticipantEntry Decode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var entry = text.Length > 0 && text[0] is 'c' or 'a' ? DecodeCompact(text) : DecodeFirstForm(text);
        return entry ?? throw new FormatException($"not an encoded participant outcome: '{text}'");
    }

    /// <summary>
    /// Decodes a block of <see cref="ParticipantOutcomeTexts.EncodeBlock"/>: each entry's text as UTF-8, ended by
    /// <see cref="BlockEnd"/> (a byte valid UTF-8 never holds). Null or empty: no entries.
    /// </summary>
    /// <exception cref="FormatException">The block is cut short, a text is not UTF-8, or a text is not an encoded entry.</exception>
    public static List<ParticipantEntry> DecodeBlock(byte[]? block)
    {
        var entries = new List<ParticipantEntry>();
        var rest = block.AsSpan();
        while (!rest.IsEmpty)
        {
            var end = rest.IndexOf(BlockEnd);
            if (end < 0)
            {
                throw new FormatException($"a participant outcome block ends without its last text's end byte ({rest.Length} bytes left)");
            }

            string text;
            try
            {
                text = StrictUtf8.GetString(rest[..end]);
            }
            catch (DecoderFallbackException ex)
            {
                throw new FormatException("a participant outcome block holds a text that is not UTF-8", ex);
            }

            entries.Add(Decode(text));
            rest = rest[(end + 1)..];
        }

        return entries;
    }

    private static ParticipantEntry? DecodeCompact(string text)
    {
        var status = text[0] == 'c' ? ParticipantStatus.Committed : ParticipantStatus.Aborted;
        Span<byte> time = stackalloc byte[8];
        var lengthEnd = text.IndexOf(':', StringComparison.Ordinal);
        if (text.Length < 1 + TimeChars
            || Base64Url.DecodeFromChars(text.AsSpan(1, TimeChars), time[(8 - TimeBytes)..], out var read, out var written) != OperationStatus.Done
            || read != TimeChars
            || written != TimeBytes
            || lengthEnd < 1 + TimeChars
            || !int.TryParse(text.AsSpan(1 + TimeChars, lengthEnd - 1 - TimeChars), NumberStyles.None, CultureInfo.InvariantCulture, out var length)
            || length > text.Length - lengthEnd - 2)
        {
            return null;
        }

        var fingerprint = text.Substring(lengthEnd + 1, length);
        var idStart = lengthEnd + 1 + length;
        var id = text[idStart] switch
        {
            PlainId => text[(idStart + 1)..],
            PackedId => UnpackSdkId(text.AsSpan(idStart + 1)),
            _ => null,
        };
        var ms = BinaryPrimitives.ReadInt64BigEndian(time);
        return id is null || ms > DateTimeOffset.MaxValue.ToUnixTimeMilliseconds()
            ? null
            : new ParticipantEntry(id, fingerprint, status, DateTimeOffset.FromUnixTimeMilliseconds(ms), null);
    }

    private static ParticipantEntry? DecodeFirstForm(string text)
    {
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
            || length > text.Length - lengthEnd - 2
            || ms < DateTimeOffset.MinValue.ToUnixTimeMilliseconds()
            || ms > DateTimeOffset.MaxValue.ToUnixTimeMilliseconds())
        {
            return null;
        }

        var fingerprint = text.Substring(lengthEnd + 1, length);
        var transactionId = text[(lengthEnd + 1 + length)..];
        return new ParticipantEntry(transactionId, fingerprint, status.Value, DateTimeOffset.FromUnixTimeMilliseconds(ms), null);
    }

    /// <summary>The 22 base64url characters of an SDK id's 16 bytes, or null for any other id (kept as given).</summary>
    private static string? PackSdkId(string id)
    {
        if (id.Length != TransactionIds.Prefix.Length + SdkIdHexDigits || !id.StartsWith(TransactionIds.Prefix, StringComparison.Ordinal))
        {
            return null;
        }

        var hex = id.AsSpan(TransactionIds.Prefix.Length);
        foreach (var c in hex)
        {
            // Lowercase only: the id must come back exactly as it was.
            if (!char.IsAsciiDigit(c) && c is < 'a' or > 'f')
            {
                return null;
            }
        }

        Span<byte> bytes = stackalloc byte[SdkIdBytes];
        Convert.FromHexString(hex, bytes, out _, out _);
        return Base64Url.EncodeToString(bytes);
    }

    private static string? UnpackSdkId(ReadOnlySpan<char> packed)
    {
        Span<byte> bytes = stackalloc byte[SdkIdBytes + 2];
        return packed.Length == SdkIdChars
            && Base64Url.DecodeFromChars(packed, bytes, out var read, out var written) == OperationStatus.Done
            && read == SdkIdChars
            && written == SdkIdBytes
            ? TransactionIds.Prefix + Convert.ToHexStringLower(bytes[..SdkIdBytes])
            : null;
    }
}

/// <summary>
/// The stored form of a participant's finished entries: one block of bytes, each entry's
/// <see cref="ParticipantOutcomeCodec.Encode"/> text as UTF-8 followed by
/// <see cref="ParticipantOutcomeCodec.BlockEnd"/>, each text encoded once. A finished entry never changes (a change
/// replaces the entry) and the participant writes all of them with every state change (about fifty under load):
/// encoding them anew at each write cost more than the rest of the write's preparation, and as fifty strings
/// the serializer checked, transcoded and tracked each one, and the write's deep copy copied the list, at
/// every write. One block is copied and written as one run of bytes. Keeps exactly the entries of the last call.
/// </summary>
public sealed class ParticipantOutcomeTexts
{
    private readonly List<byte[]> _order = [];
    private Dictionary<ParticipantEntry, byte[]> _texts = new(ReferenceEqualityComparer.Instance);
    private Dictionary<ParticipantEntry, byte[]> _next = new(ReferenceEqualityComparer.Instance);

    /// <summary>The block of the finished entries of <paramref name="entries"/>, in their order; null when there is none.</summary>
    public byte[]? EncodeBlock(IEnumerable<ParticipantEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);

        // The last call's order (its texts are kept in _texts anyway); _next is not empty only if
        // that call threw part way.
        _order.Clear();
        _next.Clear();
        var size = 0;
        foreach (var entry in entries)
        {
            if (entry.IsOpen)
            {
                continue;
            }

            if (!_texts.TryGetValue(entry, out var text))
            {
                text = Encoding.UTF8.GetBytes(ParticipantOutcomeCodec.Encode(entry));
            }

            _next[entry] = text;
            _order.Add(text);
            size += text.Length + 1;
        }

        (_texts, _next) = (_next, _texts);
        _next.Clear();
        if (size == 0)
        {
            return null;
        }

        var block = new byte[size];
        var at = 0;
        foreach (var text in _order)
        {
            text.CopyTo(block, at);
            at += text.Length;
            block[at++] = ParticipantOutcomeCodec.BlockEnd;
        }

        return block;
    }
}
