using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Granary.Scheduling;

/// <summary>
/// Implements <see cref="IPeriodicTaskGrain"/>. Each due tick is stored as fired before the task is
/// submitted, and the task id is derived from the tick, so a tick fires at most once even if two
/// activations race or a silo dies mid-firing; after a reactivation the last fired tick is
/// submitted again (idempotent), so a stored tick is never lost either.
/// </summary>
[GrainType("granary.scheduling.periodic-task")]
[KeyIsName("name", MaxLength = Limits.Scheduling.MaxPeriodicNameLength)]
public sealed class PeriodicTaskGrain(
    [PersistentState("task-periodic", GranaryStorage.Default)] IPersistentState<PeriodicTaskState> state,
    TaskSubmissionValidator validator,
    TimeProvider time,
    ILogger<PeriodicTaskGrain> logger) : Grain, IPeriodicTaskGrain
{
    private static readonly TimeSpan CheckPeriod = TimeSpan.FromMilliseconds(500);
    private CronSchedule? _cron;
    private IGrainTimer? _timer;
    // The last stored tick is submitted again by a new activation (the previous one may have died between storing
    // it and submitting it), and by this one after a submission that failed, before any later tick fires.
    private bool _lastSubmitted;

    private string Name => this.GetPrimaryKeyString();

    /// <summary>Task id for one tick of a periodic task.</summary>
    public static string TickTaskId(string name, DateTimeOffset tick) =>
        string.Create(CultureInfo.InvariantCulture, $"periodic:{name}:{tick.UtcDateTime:yyyyMMddTHHmmss}");

    /// <inheritdoc/>
    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State.Enabled && state.State.Cron is { } cron)
        {
            _cron = CronSchedule.Parse(cron);
            StartTimer();
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public async Task<PeriodicTaskInfo> ScheduleAsync(string cron, TaskSubmission template)
    {
        Granary.Errors.Guard.Name(Name, "name", Limits.Scheduling.MaxPeriodicNameLength);
        var now = time.GetUtcNow();
        CronSchedule schedule;
        try
        {
            schedule = CronSchedule.Parse(cron);
            schedule.RequireNextWithin(now, Limits.Scheduling.MaxCronHorizon);
        }
        catch (TaskValidationException ex)
        {
            throw new TaskRejectedException(ex.Parameter, ex.Reason);
        }

        // The rules of a submission, checked now rather than refused on every tick.
        await validator.ValidateAsync(template, now, GrainFactory);

        // The directory first: it enforces the limit on periodic tasks before anything is stored here.
        await GrainFactory.GetGrain<ISchedulingDirectoryGrain>(0).SetPeriodicAsync(Name, true);
        state.State = new PeriodicTaskState
        {
            Cron = schedule.Text,
            Template = template,
            CreatedAt = now,
            Enabled = true,
            // Keep the last fired tick across a re-schedule so the current tick cannot fire twice.
            LastFiredTick = state.State.LastFiredTick,
            Fired = state.State.Fired,
        };
        await state.WriteStateAsync();
        _cron = schedule;
        StartTimer();
        return Info();
    }

    /// <inheritdoc/>
    public async Task RemoveAsync()
    {
        if (state.State.Cron is null)
        {
            throw new TaskNotFoundException(Name);
        }

        state.State.Enabled = false;
        await state.WriteStateAsync();
        await GrainFactory.GetGrain<ISchedulingDirectoryGrain>(0).SetPeriodicAsync(Name, false);

        // Nothing left to fire: no timer keeps the activation, which is let go now.
        StopTimer();
        DeactivateOnIdle();
    }

    /// <inheritdoc/>
    public Task<PeriodicTaskInfo> GetAsync() =>
        state.State.Cron is null ? throw new TaskNotFoundException(Name) : Task.FromResult(Info());

    /// <inheritdoc/>
    public async Task TickAsync()
    {
        if (!state.State.Enabled)
        {
            // Listed but removed (or never stored: the write after the directory's failed): drop the entry.
            await GrainFactory.GetGrain<ISchedulingDirectoryGrain>(0).SetPeriodicAsync(Name, false);
            StopTimer();
            DeactivateOnIdle();
            return;
        }

        await FireDueAsync();
    }

    /// <summary>One timer per activation, however often the schedule is replaced.</summary>
    private void StartTimer() =>
        _timer ??= this.RegisterGrainTimer(_ => FireDueAsync(), new GrainTimerCreationOptions(CheckPeriod, CheckPeriod) { Interleave = false, KeepAlive = true });

    private void StopTimer()
    {
        _timer?.Dispose();
        _timer = null;
    }

    private async Task FireDueAsync()
    {
        if (!state.State.Enabled || _cron is null || state.State.Template is not { } template)
        {
            return;
        }

        if (!_lastSubmitted && state.State.LastFiredTick is { } last)
        {
            // Stored but perhaps never submitted: submitting a tick's task again is a no-op once it exists.
            await SubmitAsync(template, last);
            _lastSubmitted = true;
        }

        var now = time.GetUtcNow();
        var tick = _cron.DueTick(state.State.LastFiredTick ?? state.State.CreatedAt, now);
        if (tick is null)
        {
            return;
        }

        state.State.LastFiredTick = tick;
        state.State.Fired++;
        await state.WriteStateAsync();
        _lastSubmitted = false;
        await SubmitAsync(template, tick.Value);
        _lastSubmitted = true;
    }

    private async Task SubmitAsync(TaskSubmission template, DateTimeOffset tick)
    {
        var id = TickTaskId(Name, tick);
        await GrainFactory.GetGrain<ITaskGrain>(id).SubmitAsync(template);
        SchedulingLog.LogInformationPeriodicFired(logger, Name, tick, id);
    }

    private PeriodicTaskInfo Info() => new(
        Name,
        state.State.Cron ?? string.Empty,
        state.State.Template!,
        state.State.LastFiredTick,
        state.State.Fired,
        _cron?.NextAfter(state.State.LastFiredTick ?? time.GetUtcNow()),
        state.State.Enabled);
}
