using Granary.Scheduling;

namespace Granary.Tests.Unit.Scheduling;

public sealed class CronScheduleTests
{
    private static readonly DateTimeOffset Noon = new(2026, 3, 2, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Next_fire_follows_the_expression()
    {
        var every5 = CronSchedule.Parse("*/5 * * * *");
        Assert.Equal(Noon.AddMinutes(5), every5.NextAfter(Noon));
        Assert.Equal(Noon.AddMinutes(5), every5.NextAfter(Noon.AddMinutes(2)));

        var everySecond = CronSchedule.Parse("* * * * * *");
        Assert.Equal(Noon.AddSeconds(1), everySecond.NextAfter(Noon));

        var weekdays9 = CronSchedule.Parse("0 9 * * MON-FRI");
        Assert.Equal(new DateTimeOffset(2026, 3, 3, 9, 0, 0, TimeSpan.Zero), weekdays9.NextAfter(Noon));
    }

    [Fact]
    public void Due_tick_fires_once_per_tick_and_collapses_missed_ticks()
    {
        var cron = CronSchedule.Parse("* * * * *");
        Assert.Null(cron.DueTick(Noon, Noon.AddSeconds(59)));
        Assert.Equal(Noon.AddMinutes(1), cron.DueTick(Noon, Noon.AddSeconds(61)));
        // Once that tick is recorded as fired, it is not due again.
        Assert.Null(cron.DueTick(Noon.AddMinutes(1), Noon.AddSeconds(61)));
        // After an outage, only the latest missed tick fires.
        Assert.Equal(Noon.AddMinutes(10), cron.DueTick(Noon, Noon.AddMinutes(10).AddSeconds(5)));
    }

    [Theory]
    [InlineData("0 0 30 2 *")]
    [InlineData("0 0 31 4 *")]
    [InlineData("0 0 0 30 2 *")]
    public void An_expression_naming_no_date_that_exists_is_refused(string text)
    {
        var cron = CronSchedule.Parse(text);
        var error = Assert.Throws<TaskValidationException>(() => cron.RequireNextWithin(Noon, TimeSpan.FromDays(5 * 365)));
        Assert.Equal("cron", error.Parameter);
    }

    [Fact]
    public void The_next_tick_must_come_within_the_horizon()
    {
        var leapDay = CronSchedule.Parse("0 0 29 2 *");
        Assert.Equal(new DateTimeOffset(2028, 2, 29, 0, 0, 0, TimeSpan.Zero), leapDay.RequireNextWithin(Noon, TimeSpan.FromDays(5 * 365)));
        Assert.Equal("cron", Assert.Throws<TaskValidationException>(() => leapDay.RequireNextWithin(Noon, TimeSpan.FromDays(365))).Parameter);

        var yearly = CronSchedule.Parse("0 0 1 1 *");
        Assert.Equal(new DateTimeOffset(2027, 1, 1, 0, 0, 0, TimeSpan.Zero), yearly.RequireNextWithin(Noon, TimeSpan.FromDays(366)));
        Assert.Throws<TaskValidationException>(() => yearly.RequireNextWithin(Noon, TimeSpan.FromDays(30)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("not a cron")]
    [InlineData("61 * * * *")]
    [InlineData("* * * *")]
    public void Invalid_expressions_are_typed_errors(string text)
    {
        var error = Assert.Throws<TaskValidationException>(() => CronSchedule.Parse(text));
        Assert.Equal("cron", error.Parameter);
    }
}
