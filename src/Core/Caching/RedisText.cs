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

    /// <summary>Wrong number of arguments for a command.</summary>
    public static string Arity(string command) => $"ERR wrong number of arguments for '{command.ToLowerInvariant()}' command";

    /// <summary>An expire time that is not positive or overflows.</summary>
    public static string InvalidExpire(string command) => $"ERR invalid expire time in '{command.ToLowerInvariant()}' command";

    /// <summary>A key longer than the configured limit.</summary>
    public static string KeyTooLong(int length, int limit) =>
        string.Create(CultureInfo.InvariantCulture, $"ERR key is {length} characters long; the limit is {limit}");

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

    /// <summary>Parses like <c>strtod</c> as Redis uses it: no spaces, inf accepted, NaN refused.</summary>
    public static bool TryParseDouble(string text, out double value)
    {
        value = 0;
        if (string.IsNullOrEmpty(text) || char.IsWhiteSpace(text[0]) || char.IsWhiteSpace(text[^1]))
        {
            return false;
        }

        var body = text[0] is '+' or '-' ? text[1..] : text;
        if (body.Equals("inf", StringComparison.OrdinalIgnoreCase) || body.Equals("infinity", StringComparison.OrdinalIgnoreCase))
        {
            value = text[0] == '-' ? double.NegativeInfinity : double.PositiveInfinity;
            return true;
        }

        if (!double.TryParse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out value))
        {
            return false;
        }

        return !double.IsNaN(value);
    }

    /// <summary>Formats a score the way Redis 7.0 replies with a double (<c>%.17g</c>).</summary>
    public static string FormatScore(double value)
    {
        if (double.IsPositiveInfinity(value))
        {
            return "inf";
        }

        if (double.IsNegativeInfinity(value))
        {
            return "-inf";
        }

        if (value == 0)
        {
            return double.IsNegative(value) ? "-0" : "0";
        }

        var text = value.ToString("G17", CultureInfo.InvariantCulture);
        var e = text.IndexOf('E', StringComparison.Ordinal);
        if (e < 0)
        {
            return text;
        }

        // C prints at least two exponent digits with an explicit sign: 1e+20, 1e-05.
        var mantissa = text[..e];
        var sign = text[e + 1];
        var digits = text[(e + 2)..].TrimStart('0');
        return mantissa + "e" + sign + digits.PadLeft(2, '0');
    }

    /// <summary>Formats an INCRBYFLOAT result as Redis does (plain decimal, trailing zeros removed).</summary>
    public static string FormatFloat(double value)
    {
        if (value == 0)
        {
            return "0";
        }

        var text = value.ToString("R", CultureInfo.InvariantCulture);
        var e = text.IndexOf('E', StringComparison.Ordinal);
        if (e < 0)
        {
            return text;
        }

        var negative = text[0] == '-';
        var mantissa = text[(negative ? 1 : 0)..e];
        var exponent = int.Parse(text[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        var dot = mantissa.IndexOf('.', StringComparison.Ordinal);
        var digits = dot < 0 ? mantissa : mantissa.Remove(dot, 1);
        var pointAt = (dot < 0 ? mantissa.Length : dot) + exponent;
        string plain;
        if (pointAt <= 0)
        {
            plain = "0." + new string('0', -pointAt) + digits;
        }
        else if (pointAt >= digits.Length)
        {
            plain = digits + new string('0', pointAt - digits.Length);
        }
        else
        {
            plain = digits[..pointAt] + "." + digits[pointAt..];
        }

        return negative ? "-" + plain : plain;
    }

    /// <summary>Formats an integer.</summary>
    public static string FormatInt(long value) => value.ToString(CultureInfo.InvariantCulture);
}
