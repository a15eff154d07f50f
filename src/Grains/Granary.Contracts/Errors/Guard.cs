using System.Diagnostics.CodeAnalysis;
using Granary.Text;

namespace Granary.Errors;

/// <summary>
/// Argument checks that raise <see cref="InvalidRequestException"/> (never a NullReferenceException
/// deep inside), against the one table of <see cref="Limits"/>. Names and values must also be
/// storable text (<see cref="StorableText"/>: no U+0000, no unpaired surrogate).
/// </summary>
public static class Guard
{
    /// <summary>Rejects null, empty or whitespace names, names longer than <paramref name="maxLength"/>, and names that are not storable text.</summary>
    public static string Name(string? value, string parameter, int maxLength = Limits.MaxKeyLength)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new InvalidRequestException(parameter, "must not be empty");
        }

        if (value.Length > maxLength)
        {
            throw new InvalidRequestException(parameter, $"is {value.Length} characters long; the limit is {maxLength}");
        }

        return Storable(value, parameter);
    }

    /// <summary>Rejects null values, values longer than <paramref name="maxLength"/> characters, and values that are not storable text.</summary>
    public static string Value(string? value, string parameter, int maxLength = Limits.MaxValueLength)
    {
        if (value is null)
        {
            throw new InvalidRequestException(parameter, "must not be null");
        }

        if (value.Length > maxLength)
        {
            throw new InvalidRequestException(parameter, $"is {value.Length} characters long; the limit is {maxLength}");
        }

        return Storable(value, parameter);
    }

    /// <summary>Rejects text with U+0000 or an unpaired surrogate (see <see cref="StorableText"/>); null passes.</summary>
    [return: NotNullIfNotNull(nameof(value))]
    public static string? Storable(string? value, string parameter)
    {
        if (value is not null && StorableText.Problem(value) is { } problem)
        {
            throw new InvalidRequestException(parameter, problem);
        }

        return value;
    }

    /// <summary>Rejects a value outside [min, max].</summary>
    public static long InRange(long value, string parameter, long min, long max)
    {
        if (value < min || value > max)
        {
            throw new InvalidRequestException(parameter, $"is {value}; it must be between {min} and {max}");
        }

        return value;
    }

    /// <summary>Rejects a time span outside [min, max].</summary>
    public static TimeSpan InRange(TimeSpan value, string parameter, TimeSpan min, TimeSpan max)
    {
        if (value < min || value > max)
        {
            throw new InvalidRequestException(parameter, $"is {value}; it must be between {min} and {max}");
        }

        return value;
    }
}
