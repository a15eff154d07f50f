using System.Globalization;
using System.Numerics;

namespace Granary.Caching;

/// <summary>
/// Floating-point numbers exactly as Redis reads and prints them through the C library: sorted-set
/// scores are doubles read with <c>strtod</c> and printed with <c>%.17g</c>; INCRBYFLOAT works on
/// x86-64 <c>long double</c>s (64-bit significand) read with <c>strtold</c> and printed with
/// <c>%.17Lf</c>. Every value is kept as an exact binary fraction (<see cref="BigInteger"/>), so
/// parsing rounds correctly to nearest-even, sums round once, and printing rounds the exact
/// decimal expansion (ties to even), as glibc does; hexadecimal input (<c>0x1.8p1</c>),
/// <c>inf</c>/<c>infinity</c> and over- and underflow behave as in Redis 7.0.
/// </summary>
internal static class RedisFloat
{
    /// <summary>Redis refuses INCRBYFLOAT arguments of this many characters or more (its <c>MAX_LONG_DOUBLE_CHARS</c>).</summary>
    public const int MaxLongDoubleChars = 5 * 1024;

    /// <summary>IEEE double: 53-bit significand, smallest unit 2^-1074, values below 2^1024.</summary>
    public static readonly FloatFormat Double = new(53, -1074, 1024);

    /// <summary>x87 extended precision (C <c>long double</c> on x86-64): 64-bit significand, smallest unit 2^-16445, values below 2^16384.</summary>
    public static readonly FloatFormat Extended = new(64, -16445, 16384);

    // Digits beyond this many are folded into one sticky digit: more can never change the rounding of
    // a 64-bit significand (an exact halfway case of the smallest subnormal needs fewer than 12,000).
    private const int MaxExactDigits = 12_000;

    /// <summary>
    /// Reads <paramref name="text"/> as <c>strtod</c>/<c>strtold</c> would and requires it to be one number
    /// and nothing else (no sign of NaN). <paramref name="rangeError"/> is C's <c>ERANGE</c> that Redis
    /// checks: a finite number too large (the result is infinite) or a non-zero number too small (the result is zero).
    /// </summary>
    public static bool TryParse(string text, FloatFormat format, bool skipLeadingSpace, out ExactFloat value, out bool rangeError)
    {
        value = default;
        rangeError = false;
        var s = text.AsSpan();
        if (skipLeadingSpace)
        {
            s = s.TrimStart(" \t\n\v\f\r");
        }

        var negative = false;
        if (s.Length > 0 && s[0] is '+' or '-')
        {
            negative = s[0] == '-';
            s = s[1..];
        }

        if (s.Equals("inf", StringComparison.OrdinalIgnoreCase) || s.Equals("infinity", StringComparison.OrdinalIgnoreCase))
        {
            value = ExactFloat.Infinity(negative);
            return true;
        }

        if (s.Length > 2 && s[0] == '0' && s[1] is 'x' or 'X')
        {
            return TryParseHex(s[2..], negative, format, out value, out rangeError);
        }

        return TryParseDecimal(s, negative, format, out value, out rangeError);
    }

    /// <summary>The exact sum, rounded once to <paramref name="format"/>; null for NaN (inf + -inf).</summary>
    public static ExactFloat? Add(ExactFloat a, ExactFloat b, FloatFormat format)
    {
        if (a.IsInfinity || b.IsInfinity)
        {
            if (a.IsInfinity && b.IsInfinity && a.Negative != b.Negative)
            {
                return null;
            }

            return a.IsInfinity ? a : b;
        }

        if (a.IsZero && b.IsZero)
        {
            return ExactFloat.Zero(a.Negative && b.Negative);
        }

        var exponent = a.IsZero ? b.Exponent : b.IsZero ? a.Exponent : Math.Min(a.Exponent, b.Exponent);
        var sum = a.Signed(exponent) + b.Signed(exponent);
        return sum.IsZero
            ? ExactFloat.Zero(negative: false)
            : Round(BigInteger.Abs(sum), BigInteger.One, exponent, sum.Sign < 0, format, out _);
    }

    /// <summary>The exact binary value of a double.</summary>
    public static ExactFloat FromDouble(double value)
    {
        if (double.IsInfinity(value))
        {
            return ExactFloat.Infinity(value < 0);
        }

        var bits = BitConverter.DoubleToInt64Bits(value);
        var negative = bits < 0;
        var biased = (int)((bits >> 52) & 0x7FF);
        var fraction = bits & ((1L << 52) - 1);
        return biased == 0
            ? new ExactFloat(negative, fraction, -1074, false)
            : new ExactFloat(negative, fraction | (1L << 52), biased - 1075, false);
    }

    /// <summary>C's <c>printf("%.17g")</c> of a double (with <c>inf</c> for infinity), as Redis replies with scores.</summary>
    public static string FormatG17(double value)
    {
        if (double.IsInfinity(value))
        {
            return value > 0 ? "inf" : "-inf";
        }

        if (value == 0)
        {
            return double.IsNegative(value) ? "-0" : "0";
        }

        if (Math.Abs(value) < 1e17 && value == Math.Floor(value))
        {
            // An integer of at most 17 digits prints as itself.
            return ((long)value).ToString(CultureInfo.InvariantCulture);
        }

        var exact = FromDouble(value);
        var (digits, fractionDigits) = exact.ToDecimal();
        var text = digits.ToString(CultureInfo.InvariantCulture);
        var exponent = text.Length - 1 - fractionDigits;
        if (text.Length > 17)
        {
            var rounded = RoundDecimal(digits, text.Length - 17);
            text = rounded.ToString(CultureInfo.InvariantCulture);
            if (text.Length > 17)
            {
                // 99...9 rounded up to 10...0: one more digit before the point.
                text = text[..17];
                exponent++;
            }
        }

        text = text.TrimEnd('0');
        string body;
        if (exponent < -4 || exponent >= 17)
        {
            var mantissa = text.Length > 1 ? text[..1] + "." + text[1..] : text;
            body = mantissa + (exponent < 0 ? "e-" : "e+") + Math.Abs(exponent).ToString("00", CultureInfo.InvariantCulture);
        }
        else if (exponent >= 0)
        {
            body = text.Length > exponent + 1
                ? text[..(exponent + 1)] + "." + text[(exponent + 1)..]
                : text.PadRight(exponent + 1, '0');
        }
        else
        {
            body = "0." + new string('0', -exponent - 1) + text;
        }

        return exact.Negative ? "-" + body : body;
    }

    /// <summary>
    /// C's <c>printf("%.17Lf")</c> with trailing zeros (and a trailing point) removed and <c>-0</c> printed as
    /// <c>0</c>: how Redis prints an INCRBYFLOAT result. <paramref name="value"/> must be finite.
    /// </summary>
    public static string FormatFixed17(ExactFloat value)
    {
        const int Decimals = 17;
        var (digits, fractionDigits) = value.ToDecimal();
        if (fractionDigits > Decimals)
        {
            digits = RoundDecimal(digits, fractionDigits - Decimals);
            fractionDigits = Decimals;
        }

        var text = digits.ToString(CultureInfo.InvariantCulture).PadLeft(fractionDigits + 1, '0');
        var integer = text[..^fractionDigits];
        var fraction = text[^fractionDigits..].TrimEnd('0');
        var body = fraction.Length > 0 ? integer + "." + fraction : integer;
        return value.Negative && body != "0" ? "-" + body : body;
    }

    /// <summary>Drops <paramref name="drop"/> decimal digits of <paramref name="digits"/>, rounding half to even.</summary>
    private static BigInteger RoundDecimal(BigInteger digits, int drop)
    {
        var divisor = BigInteger.Pow(10, drop);
        var quotient = BigInteger.DivRem(digits, divisor, out var remainder);
        var half = (remainder << 1).CompareTo(divisor);
        return half > 0 || (half == 0 && !quotient.IsEven) ? quotient + 1 : quotient;
    }

    private static bool TryParseDecimal(ReadOnlySpan<char> s, bool negative, FloatFormat format, out ExactFloat value, out bool rangeError)
    {
        value = default;
        rangeError = false;
        var end = ScanDigits(s, 10, out var mantissa, out var exponent, out var seenDigit);
        if (!seenDigit || !TryParseTail(s, end, 'e', ref exponent))
        {
            return false;
        }

        if (mantissa.IsZero)
        {
            value = ExactFloat.Zero(negative);
            return true;
        }

        // Far outside both formats (long doubles reach about 1.2e4932 and 3.6e-4951): no exact arithmetic needed.
        var magnitude = (long)(mantissa.GetBitLength() * 0.30103) + exponent;
        if (magnitude > 5_000 || magnitude < -5_000)
        {
            rangeError = true;
            value = magnitude > 0 ? ExactFloat.Infinity(negative) : ExactFloat.Zero(negative);
            return true;
        }

        value = exponent >= 0
            ? Round(mantissa * BigInteger.Pow(10, (int)exponent), BigInteger.One, 0, negative, format, out rangeError)
            : Round(mantissa, BigInteger.Pow(10, (int)-exponent), 0, negative, format, out rangeError);
        return true;
    }

    private static bool TryParseHex(ReadOnlySpan<char> s, bool negative, FloatFormat format, out ExactFloat value, out bool rangeError)
    {
        value = default;
        rangeError = false;
        var end = ScanDigits(s, 16, out var mantissa, out var hexExponent, out var seenDigit);
        var exponent = 4 * hexExponent;

        // "0x" without hex digits: strtod reads the 0 and stops at the x.
        if (!seenDigit || !TryParseTail(s, end, 'p', ref exponent))
        {
            return false;
        }

        if (mantissa.IsZero)
        {
            value = ExactFloat.Zero(negative);
            return true;
        }

        var magnitude = mantissa.GetBitLength() + exponent;
        if (magnitude > format.MaxExponent + 1 || magnitude < format.MinExponent - 2)
        {
            rangeError = true;
            value = magnitude > 0 ? ExactFloat.Infinity(negative) : ExactFloat.Zero(negative);
            return true;
        }

        value = Round(mantissa, BigInteger.One, (int)exponent, negative, format, out rangeError);
        return true;
    }

    /// <summary>
    /// Reads digits in base <paramref name="radix"/> (10 or 16) with at most one point; the value is
    /// <paramref name="mantissa"/> * radix^<paramref name="exponent"/>. Digits past the first
    /// <see cref="MaxExactDigits"/> significant ones only move the exponent, and if any of them is not 0
    /// a trailing 1 digit keeps the value strictly between its neighbours (rounding stays exact).
    /// Returns where the digits end.
    /// </summary>
    private static int ScanDigits(ReadOnlySpan<char> s, int radix, out BigInteger mantissa, out long exponent, out bool seenDigit)
    {
        mantissa = BigInteger.Zero;
        exponent = 0;
        seenDigit = false;
        var kept = 0;
        var sticky = false;
        var i = 0;
        for (var afterPoint = false; i < s.Length; i++)
        {
            var c = s[i];
            if (c == '.' && !afterPoint)
            {
                afterPoint = true;
                continue;
            }

            var digit = char.IsAsciiDigit(c) ? c - '0' : radix == 16 && char.IsAsciiHexDigit(c) ? (c | 0x20) - 'a' + 10 : -1;
            if (digit < 0)
            {
                break;
            }

            seenDigit = true;
            if (kept < MaxExactDigits)
            {
                mantissa = (mantissa * radix) + digit;
                kept += mantissa.IsZero ? 0 : 1;
                exponent -= afterPoint ? 1 : 0;
            }
            else
            {
                sticky |= digit != 0;
                exponent += afterPoint ? 0 : 1;
            }
        }

        if (sticky)
        {
            mantissa = (mantissa * radix) + 1;
            exponent--;
        }

        return i;
    }

    /// <summary>
    /// What follows the digits (from <paramref name="i"/>) must be nothing, or <paramref name="marker"/>
    /// (either case) and an exponent, which is added to <paramref name="exponent"/>.
    /// </summary>
    private static bool TryParseTail(ReadOnlySpan<char> s, int i, char marker, ref long exponent)
    {
        if (i == s.Length)
        {
            return true;
        }

        if (char.ToLowerInvariant(s[i]) != marker || !TryParseExponent(s[(i + 1)..], out var written))
        {
            return false;
        }

        exponent += written;
        return true;
    }

    /// <summary>An exponent after e or p: optional sign, at least one digit, nothing after; saturates far beyond any format.</summary>
    private static bool TryParseExponent(ReadOnlySpan<char> s, out long exponent)
    {
        exponent = 0;
        var negative = false;
        if (s.Length > 0 && s[0] is '+' or '-')
        {
            negative = s[0] == '-';
            s = s[1..];
        }

        if (s.Length == 0)
        {
            return false;
        }

        foreach (var c in s)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }

            exponent = Math.Min((exponent * 10) + (c - '0'), 1_000_000_000);
        }

        exponent = negative ? -exponent : exponent;
        return true;
    }

    /// <summary>
    /// Rounds numerator/denominator * 2^binaryExponent (both positive) to nearest-even in <paramref name="format"/>.
    /// <paramref name="rangeError"/>: the result overflowed to infinity or underflowed to zero.
    /// </summary>
    private static ExactFloat Round(BigInteger numerator, BigInteger denominator, int binaryExponent, bool negative, FloatFormat format, out bool rangeError)
    {
        rangeError = false;

        // Unit exponent e such that the quotient numerator * 2^(binaryExponent - e) / denominator has Precision bits.
        var e = (int)(numerator.GetBitLength() - denominator.GetBitLength()) + binaryExponent - format.Precision;
        e = Math.Max(e, format.MinExponent);
        BigInteger quotient, remainder, divisor;
        while (true)
        {
            var shift = binaryExponent - e;
            var dividend = shift >= 0 ? numerator << shift : numerator;
            divisor = shift >= 0 ? denominator : denominator << -shift;
            quotient = BigInteger.DivRem(dividend, divisor, out remainder);
            var bits = (int)quotient.GetBitLength();
            if (bits > format.Precision)
            {
                e += bits - format.Precision;
            }
            else if (bits < format.Precision && e > format.MinExponent)
            {
                e = Math.Max(format.MinExponent, e - (format.Precision - bits));
            }
            else
            {
                break;
            }
        }

        var half = (remainder << 1).CompareTo(divisor);
        if (half > 0 || (half == 0 && !quotient.IsEven))
        {
            quotient += 1;
            if (quotient.GetBitLength() > format.Precision)
            {
                quotient >>= 1;
                e++;
            }
        }

        if (quotient.IsZero)
        {
            rangeError = true;
            return ExactFloat.Zero(negative);
        }

        if (quotient.GetBitLength() + e > format.MaxExponent)
        {
            rangeError = true;
            return ExactFloat.Infinity(negative);
        }

        return new ExactFloat(negative, quotient, e, false);
    }
}

/// <summary>A binary floating-point format: significand bits, the exponent of its smallest unit, and the power of two no finite value reaches.</summary>
internal sealed record FloatFormat(int Precision, int MinExponent, int MaxExponent);

/// <summary>An exact binary value: (-1)^Negative * Mantissa * 2^Exponent, or an infinity.</summary>
internal readonly record struct ExactFloat(bool Negative, BigInteger Mantissa, int Exponent, bool IsInfinity)
{
    /// <summary>True for +0 and -0.</summary>
    public bool IsZero => !IsInfinity && Mantissa.IsZero;

    /// <summary>A signed zero.</summary>
    public static ExactFloat Zero(bool negative) => new(negative, BigInteger.Zero, 0, false);

    /// <summary>A signed infinity.</summary>
    public static ExactFloat Infinity(bool negative) => new(negative, BigInteger.Zero, 0, true);

    /// <summary>The nearest double (exact when the value came from <see cref="RedisFloat.Double"/>).</summary>
    public double ToDouble()
    {
        if (IsInfinity)
        {
            return Negative ? double.NegativeInfinity : double.PositiveInfinity;
        }

        var magnitude = Math.ScaleB((double)Mantissa, Exponent);
        return Negative ? -magnitude : magnitude;
    }

    /// <summary>The signed mantissa scaled to unit exponent <paramref name="exponent"/> (at most this value's).</summary>
    public BigInteger Signed(int exponent)
    {
        var scaled = Mantissa << (Exponent - exponent);
        return Negative ? -scaled : scaled;
    }

    /// <summary>The magnitude as exact decimal digits: Digits / 10^FractionDigits.</summary>
    public (BigInteger Digits, int FractionDigits) ToDecimal() =>
        Exponent >= 0
            ? (Mantissa << Exponent, 0)
            : (Mantissa * BigInteger.Pow(5, -Exponent), -Exponent);
}
