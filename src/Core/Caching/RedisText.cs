using System.Globalization;

namespace Granary.Caching;

/// <summary>Redis's exact error texts and its number parsing/formatting rules.</summary>
public static class RedisText
{
    /// <summary>Operation against a key of another type.</summary>
    public const string WrongType = "WRONGTYPE Operation against a key holding the wrong kind of value";

    /// <summary>An integer argument or value is malformed or out of range.</summary>
    public const string NotInteger = "ERR value is not an integer or out of range";

    /// <summary>A float argument or value is malformed.</summary>
    public const string NotFloat = "ERR value is not a valid float";

    /// <summary>Malformed options.</summary>
    public const string Syntax = "ERR syntax error";

    /// <summary>INCR family overflow.</summary>
    public const string Overflow = "ERR increment or decrement would overflow";

    /// <summary>HINCRBY on a field that is not an integer.</summary>
    public const string HashNotInteger = "ERR hash value is not an integer";

    /// <summary>Write refused under <see cref="EvictionPolicy.NoEviction"/> when memory is full.</summary>
    public const string OutOfMemory = "OOM command not allowed when used memory > 'maxmemory'.";

    /// <summary>A value longer than the configured limit.</summary>
    public const string ValueTooLarge = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

    /// <summary>A count that must be positive.</summary>
    public const string MustBePositive = "ERR value is out of range, must be positive";

    /// <summary>A multi-key command whose keys live on different shards, as Redis Cluster words it for slots.</summary>
    public const string CrossSlot = "CROSSSLOT Keys in request don't hash to the same slot";

    /// <summary>A negative SETRANGE offset.</summary>
    public const string OffsetOutOfRange = "ERR offset is out of range";

    /// <summary>RENAME or LSET of a key that does not exist.</summary>
    public const string NoSuchKey = "ERR no such key";

    /// <summary>A count of SRANDMEMBER or HRANDFIELD that must fit in a signed 64-bit integer once negated.</summary>
    public const string CountOutOfRange = "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";

    /// <summary>A negative count asking more repeated random elements than the collection holds and the limit allows (Granary's own bound).</summary>
    public static string RandomCountOverLimit(long count, int limit) =>
        string.Create(CultureInfo.InvariantCulture, $"ERR count is {count}; a negative count may ask at most {limit} elements or the collection's size");

    /// <summary>Wrong number of arguments for a command.</summary>
    public static string Arity(string command) => $"ERR wrong number of arguments for '{command.ToLowerInvariant()}' command";

    /// <summary>An expire time that is not positive or overflows.</summary>
    public static string InvalidExpire(string command) => $"ERR invalid expire time in '{command.ToLowerInvariant()}' command";

    /// <summary>A key longer than the configured limit.</summary>
    public static string KeyTooLong(int length, int limit) =>
        string.Create(CultureInfo.InvariantCulture, $"ERR key is {length} characters long; the limit is {limit}");

    /// <summary>A KEYS or SCAN MATCH pattern longer than the limit (Granary's own bound; Redis has none).</summary>
    public static string PatternTooLong(int length, int limit) =>
        string.Create(CultureInfo.InvariantCulture, $"ERR pattern is {length} characters long; the limit is {limit}");

    /// <summary>A KEYS or SCAN MATCH pattern with more wildcards than the limit (Granary's own bound).</summary>
    public static string PatternTooManyWildcards(int wildcards, int limit) =>
        string.Create(CultureInfo.InvariantCulture, $"ERR pattern has {wildcards} wildcards; the limit is {limit}");

    /// <summary>KEYS on a shard holding more keys than one KEYS may examine (Granary's own bound).</summary>
    public static string KeysOverLimit(int keys, int limit) =>
        string.Create(CultureInfo.InvariantCulture, $"ERR KEYS would examine {keys} keys; the limit is {limit} per shard (use SCAN)");

    /// <summary>
    /// True for an error reply that refuses the command's arguments (a limit, a syntax or arity
    /// error, an unknown command) rather than the data it met: the console exits with code 2.
    /// </summary>
    public static bool IsArgumentError(string? text) =>
        text is not null
        && (text == ValueTooLarge || text == Syntax
            || text.StartsWith("ERR key is ", StringComparison.Ordinal)
            || text.StartsWith("ERR argument ", StringComparison.Ordinal)
            || text.StartsWith("ERR wrong number of arguments", StringComparison.Ordinal)
            || text.StartsWith("ERR unknown command", StringComparison.Ordinal));

    /// <summary>An argument that is not storable text (U+0000 or an unpaired surrogate; see <c>StorableText</c>).</summary>
    public static string NotStorable(int index, string problem) =>
        string.Create(CultureInfo.InvariantCulture, $"ERR argument {index} {problem}");

    /// <summary>Unknown command, as Redis words it.</summary>
    public static string UnknownCommand(IReadOnlyList<string> args)
    {
        var name = args.Count > 0 ? args[0] : string.Empty;
        var tail = string.Concat(args.Skip(1).Take(20).Select(a => $"'{a}' "));
        return $"ERR unknown command '{name}', with args beginning with: {tail}";
    }

    /// <summary>Parses like Redis's <c>string2ll</c>: optional '-', no '+', no leading zeros, no spaces.</summary>
    public static bool TryParseInt64(string text, out long value)
    {
        value = 0;
        if (string.IsNullOrEmpty(text) || text.Length > 20)
        {
            return false;
        }

        if (text == "0")
        {
            return true;
        }

        var negative = text[0] == '-';
        var start = negative ? 1 : 0;
        if (start >= text.Length || text[start] < '1' || text[start] > '9')
        {
            return false;
        }

        ulong magnitude = 0;
        for (var i = start; i < text.Length; i++)
        {
            var c = text[i];
            if (c < '0' || c > '9')
            {
                return false;
            }

            var digit = (ulong)(c - '0');
            if (magnitude > (ulong.MaxValue - digit) / 10)
            {
                return false;
            }

            magnitude = (magnitude * 10) + digit;
        }

        if (negative)
        {
            if (magnitude > (ulong)long.MaxValue + 1)
            {
                return false;
            }

            value = magnitude == (ulong)long.MaxValue + 1 ? long.MinValue : -(long)magnitude;
            return true;
        }

        if (magnitude > long.MaxValue)
        {
            return false;
        }

        value = (long)magnitude;
        return true;
    }

    /// <summary>
    /// Parses a double as Redis reads scores and increments (<c>strtod</c>, the whole text, no leading
    /// space, inf accepted, NaN refused, and refused when the number overflows to infinity or a non-zero
    /// number underflows to zero: <c>1e400</c> is not a valid float).
    /// </summary>
    public static bool TryParseDouble(string text, out double value)
    {
        value = 0;
        if (string.IsNullOrEmpty(text) || !RedisFloat.TryParse(text, RedisFloat.Double, skipLeadingSpace: false, out var exact, out var rangeError) || rangeError)
        {
            return false;
        }

        value = exact.ToDouble();
        return true;
    }

    /// <summary>
    /// Parses a score range bound as Redis does (<c>strtod</c> alone: leading space skipped, the empty text
    /// is 0, overflow gives inf and underflow 0, only NaN and trailing characters refused).
    /// </summary>
    public static bool TryParseRangeDouble(string text, out double value)
    {
        value = 0;
        if (string.IsNullOrEmpty(text))
        {
            return true;
        }

        if (!RedisFloat.TryParse(text, RedisFloat.Double, skipLeadingSpace: true, out var exact, out _))
        {
            return false;
        }

        value = exact.ToDouble();
        return true;
    }

    /// <summary>Formats a score the way Redis 7.0 replies with a double (<c>%.17g</c>, exact, ties to even).</summary>
    public static string FormatScore(double value) => RedisFloat.FormatG17(value);

    /// <summary>
    /// INCRBYFLOAT's arithmetic: <paramref name="current"/> (null: absent) plus <paramref name="increment"/>
    /// in x86-64 <c>long double</c> precision, printed as Redis prints it (<c>%.17Lf</c> without trailing
    /// zeros). Null with <paramref name="error"/> set when an operand is not a valid float or the sum is
    /// not finite.
    /// </summary>
    public static string? IncrementFloat(string? current, string increment, out string? error)
    {
        ArgumentNullException.ThrowIfNull(increment);
        error = NotFloat;
        var value = ExactFloat.Zero(negative: false);
        if ((current is not null && !TryParseLongDouble(current, out value)) || !TryParseLongDouble(increment, out var by))
        {
            return null;
        }

        if (RedisFloat.Add(value, by, RedisFloat.Extended) is not { IsInfinity: false } sum)
        {
            error = "ERR increment would produce NaN or Infinity";
            return null;
        }

        error = null;
        return RedisFloat.FormatFixed17(sum);
    }

    private static bool TryParseLongDouble(string text, out ExactFloat value)
    {
        value = default;
        return text.Length is > 0 and < RedisFloat.MaxLongDoubleChars
            && RedisFloat.TryParse(text, RedisFloat.Extended, skipLeadingSpace: false, out value, out var rangeError)
            && !rangeError;
    }

    /// <summary>Formats an integer.</summary>
    public static string FormatInt(long value) => value.ToString(CultureInfo.InvariantCulture);
}
