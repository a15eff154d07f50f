namespace Granary.Errors;

/// <summary>Argument checks that raise <see cref="InvalidRequestException"/> (never a NullReferenceException deep inside).</summary>
public static class Guard
{
    /// <summary>Rejects null, empty or whitespace names and names longer than <paramref name="maxLength"/>.</summary>
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

        return value;
    }

    /// <summary>Rejects null values and values longer than <paramref name="maxLength"/> characters.</summary>
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
