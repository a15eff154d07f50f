using Cronos;

namespace Granary.Scheduling;

/// <summary>
/// A cron expression (5 fields, or 6 with seconds) evaluated in UTC, with the rule periodic tasks
/// use to fire: at most one firing per tick, and ticks missed while no silo was up are collapsed
/// into one (the latest), as Celery beat does.
/// </summary>
/// <example><code>
/// var cron = CronSchedule.Parse("*/5 * * * *");
/// DateTimeOffset? next = cron.NextAfter(DateTimeOffset.UtcNow);
/// </code></example>
public sealed class CronSchedule
{
    private readonly CronExpression _expression;

    private CronSchedule(string text, CronExpression expression)
    {
        Text = text;
        _expression = expression;
    }

    /// <summary>The expression as given.</summary>
    public string Text { get; }

    /// <summary>Parses an expression; 6 fields means the first one is seconds.</summary>
    /// <exception cref="TaskValidationException">The expression is empty or malformed.</exception>
    public static CronSchedule Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new TaskValidationException("cron", "must not be empty");
        }

        var trimmed = text.Trim();
        var fields = trimmed.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
        var format = fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard;
        try
        {
            return new CronSchedule(trimmed, CronExpression.Parse(trimmed, format));
        }
        catch (CronFormatException ex)
        {
            throw new TaskValidationException("cron", $"'{trimmed}' is not a valid cron expression: {ex.Message}");
        }
    }

    /// <summary>
    /// The next tick after <paramref name="now"/>, which must come within <paramref name="horizon"/>:
    /// an expression that never fires (<c>0 0 30 2 *</c>, February 30th) or not for longer is refused
    /// rather than kept as a schedule that does nothing.
    /// </summary>
    /// <exception cref="TaskValidationException">No tick within the horizon.</exception>
    public DateTimeOffset RequireNextWithin(DateTimeOffset now, TimeSpan horizon)
    {
        var next = NextAfter(now);
        if (next is null || next.Value - now > horizon)
        {
            throw new TaskValidationException("cron", $"'{Text}' has no tick within {horizon.TotalDays:0} days of {now:yyyy-MM-dd HH:mm:ss}Z" + (next is null ? " (it names no date that exists)" : $" (next {next:yyyy-MM-dd HH:mm:ss}Z)"));
        }

        return next.Value;
    }

    /// <summary>The first occurrence strictly after <paramref name="after"/>, or null when there is none.</summary>
    public DateTimeOffset? NextAfter(DateTimeOffset after) =>
        _expression.GetNextOccurrence(after.ToUniversalTime(), TimeZoneInfo.Utc, inclusive: false);

    /// <summary>
    /// The tick to fire now, if any: the latest occurrence after <paramref name="lastFired"/> that is
    /// not later than <paramref name="now"/>. Null when the next tick is still in the future.
    /// </summary>
    public DateTimeOffset? DueTick(DateTimeOffset lastFired, DateTimeOffset now)
    {
        var next = NextAfter(lastFired);
        if (next is null || next > now)
        {
            return null;
        }

        // Collapse missed ticks into the latest one, bounded so a fine-grained cron after a long
        // outage cannot loop for long.
        var due = next.Value;
        for (var i = 0; i < 10_000; i++)
        {
            var following = NextAfter(due);
            if (following is null || following > now)
            {
                break;
            }

            due = following.Value;
        }

        return due;
    }
}
