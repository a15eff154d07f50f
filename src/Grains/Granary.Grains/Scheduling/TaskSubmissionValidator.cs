using Granary.Errors;
using Granary.Scheduling.Handlers;
using Microsoft.Extensions.Options;

namespace Granary.Scheduling;

/// <summary>
/// The one set of rules a task request must pass, applied wherever one is accepted: a task submitted
/// directly and each step of its chain, each member and the callback of a group or chord, and the
/// template of a periodic task (checked when it is added, so a bad template cannot be refused again
/// on every tick). Errors are <see cref="TaskRejectedException"/> naming the parameter, or
/// <see cref="TaskQueueNotFoundException"/> for a queue that is not declared.
/// </summary>
/// <example><code>
/// var checkedTask = validator.Validate(new TaskSubmission("add", "[2, 3]"), time.GetUtcNow());
/// await TaskSubmissionValidator.RequireDeclaredAsync(grains, TaskSubmissionValidator.QueuesOf(submission));
/// </code></example>
public sealed class TaskSubmissionValidator(TaskHandlerRegistry registry, IOptions<SchedulingOptions> options, TimeProvider time)
{
    /// <summary>How long a queue's declared task types are kept before they are read again.</summary>
    public static readonly TimeSpan DeclaredTypesTtl = TimeSpan.FromSeconds(5);

    private readonly SchedulingOptions _options = options.Value;
    private DeclaredTaskTypes? _declared;

    /// <summary>
    /// Checks everything that does not depend on the cluster's state (type, arguments, queue name,
    /// priority, delay, ETA, time limit, retries, backoff, key, and each chain step alike).
    /// </summary>
    /// <param name="submission">The request.</param>
    /// <param name="now">The current time: an ETA more than <see cref="Limits.Scheduling.MaxDelay"/> after it is refused, as a delay that long is.</param>
    /// <returns>The queue, the arguments in canonical JSON, and the instant the task may run from.</returns>
    public ValidatedSubmission Validate(TaskSubmission? submission, DateTimeOffset now)
    {
        if (submission is null)
        {
            throw new TaskRejectedException("submission", "must not be null");
        }

        var validated = ValidateOne(submission, now, partial: false);
        foreach (var step in submission.Then ?? [])
        {
            if (step is null)
            {
                throw new TaskRejectedException("then", "a chain step must not be null");
            }

            // Each step is submitted as a task of its own later: the same rules, now (its arguments
            // get the previous result in front, so only their form is checked here).
            ValidateOne(step with { Queue = step.Queue ?? validated.Queue }, now, partial: true);
        }

        return validated;
    }

    /// <summary>
    /// <see cref="Validate"/> for a task whose arguments get a result put in front of them before it
    /// runs (a chord's callback): its arguments must be a JSON array, and the handler judges them
    /// once they are complete.
    /// </summary>
    public ValidatedSubmission ValidatePartial(TaskSubmission? submission, DateTimeOffset now) =>
        submission is null ? throw new TaskRejectedException("submission", "must not be null") : ValidateOne(submission, now, partial: true);

    /// <summary>
    /// <see cref="Validate"/>, then every queue the request will use must be declared. For requests
    /// stored before their tasks are placed (periodic templates, workflows).
    /// </summary>
    public async Task<ValidatedSubmission> ValidateAsync(TaskSubmission? submission, DateTimeOffset now, IGrainFactory grains)
    {
        var validated = Validate(submission, now);
        await RequireDeclaredAsync(grains, QueuesOf(submission!));
        await RequireServedAsync(grains, [submission!]);
        return validated;
    }

    /// <summary>Every queue the request's tasks will use: its own, then each chain step's (a step without one uses the first task's).</summary>
    public static IEnumerable<string> QueuesOf(TaskSubmission submission)
    {
        ArgumentNullException.ThrowIfNull(submission);
        var own = submission.Queue ?? SchedulingOptions.DefaultQueue;
        return new[] { own }.Concat((submission.Then ?? []).Select(s => s.Queue ?? own)).Distinct(StringComparer.Ordinal);
    }

    /// <summary>
    /// Every task type of <paramref name="submissions"/> (and of their chain steps) that no silo has a
    /// handler for must have been declared by a worker of its queue (<see cref="IQueueGrain.GetTaskTypesAsync"/>);
    /// otherwise <see cref="TaskRejectedException"/> for <c>type</c>, and nothing is stored. Costs one call
    /// per queue only when such a type is used, and then at most one per <see cref="DeclaredTypesTtl"/>
    /// (<see cref="DeclaredTaskTypes"/>: a type not in the kept list is read afresh before it is refused).
    /// </summary>
    public async Task RequireServedAsync(IGrainFactory grains, IEnumerable<TaskSubmission> submissions)
    {
        ArgumentNullException.ThrowIfNull(grains);
        ArgumentNullException.ThrowIfNull(submissions);
        var external = submissions.SelectMany(TypesOf).Where(t => registry.Find(t.Type) is null).Distinct().ToList();
        if (external.Count == 0)
        {
            return;
        }

        // Every silo's grain factory reaches the same queues: the first one given serves them all.
        var declaredTypes = _declared ??= new DeclaredTaskTypes(queue => grains.GetGrain<IQueueGrain>(queue).GetTaskTypesAsync(), DeclaredTypesTtl, time);
        foreach (var (queue, type) in external)
        {
            if (!await declaredTypes.IsDeclaredAsync(queue, type))
            {
                // Refused only after a fresh read, whose list is the one kept now.
                var known = registry.Handlers.Select(h => h.Name).Concat(declaredTypes.Kept(queue)).Order(StringComparer.Ordinal);
                throw new TaskRejectedException("type", $"unknown task type '{type}': no silo has a handler for it and no worker of queue '{queue}' declared it; known types: {string.Join(", ", known)}");
            }
        }
    }

    /// <summary>Throws <see cref="TaskQueueNotFoundException"/> for the first of <paramref name="queues"/> that is not declared.</summary>
    public static async Task RequireDeclaredAsync(IGrainFactory grains, IEnumerable<string> queues)
    {
        ArgumentNullException.ThrowIfNull(grains);
        ArgumentNullException.ThrowIfNull(queues);
        foreach (var queue in queues.Distinct(StringComparer.Ordinal))
        {
            if (!(await grains.GetGrain<IQueueGrain>(queue).GetViewAsync()).Declared)
            {
                throw new TaskQueueNotFoundException(queue);
            }
        }
    }

    private ValidatedSubmission ValidateOne(TaskSubmission submission, DateTimeOffset now, bool partial)
    {
        try
        {
            Guard.Storable(submission.Args, "args");
            var args = partial ? Partial(submission) : Arguments(submission);
            var queue = TaskQueueName.Check(submission.Queue ?? SchedulingOptions.DefaultQueue);
            if (submission.Priority is < 0 or > Limits.Scheduling.MaxPriority)
            {
                throw new TaskRejectedException("priority", $"is {submission.Priority}; it must be between 0 and {Limits.Scheduling.MaxPriority}");
            }

            var maxDelay = Limits.Scheduling.MaxDelay;
            if (submission.Delay is { } delay && (delay < TimeSpan.Zero || delay > maxDelay))
            {
                throw new TaskRejectedException("delay", $"is {delay}; it must be between 0 and {maxDelay.TotalDays:0} days");
            }

            if (submission.Eta is { } at && at - now > maxDelay)
            {
                throw new TaskRejectedException("eta", $"is {at:O}, {(at - now).TotalDays:0} days from now; it must be at most {maxDelay.TotalDays:0} days ahead, as a delay");
            }

            if (submission.TimeLimit is { } limit && (limit <= TimeSpan.Zero || limit > Limits.Scheduling.MaxTimeLimit))
            {
                throw new TaskRejectedException("timeLimit", $"is {limit}; it must be positive and at most {Limits.Scheduling.MaxTimeLimit}");
            }

            if (submission.MaxRetries is < 0 or > Limits.Scheduling.MaxRetries)
            {
                throw new TaskRejectedException("maxRetries", $"is {submission.MaxRetries}; it must be between 0 and {Limits.Scheduling.MaxRetries}");
            }

            _ = new BackoffPolicy(submission.BackoffBase ?? _options.DefaultBackoffBase, submission.BackoffCap ?? _options.DefaultBackoffCap);
            if (submission.Key is { } key)
            {
                Guard.Name(key, "key");
            }

            DateTimeOffset? eta = submission.Eta;
            if (submission.Delay is { } d && d > TimeSpan.Zero)
            {
                var byDelay = now + d;
                eta = eta is { } e && e > byDelay ? e : byDelay;
            }

            return new ValidatedSubmission(queue, args, eta);
        }
        catch (TaskValidationException ex)
        {
            throw new TaskRejectedException(ex.Parameter, ex.Reason);
        }
        catch (InvalidRequestException ex)
        {
            var prefix = ex.Parameter + ": ";
            throw new TaskRejectedException(ex.Parameter, ex.Message.StartsWith(prefix, StringComparison.Ordinal) ? ex.Message[prefix.Length..] : ex.Message);
        }
    }

    private string Partial(TaskSubmission submission)
    {
        RequireType(submission.Type);
        return TaskHandlerRegistry.Parse(submission.Args).GetRawText();
    }

    /// <summary>A type the silos know is checked by its handler; any other is one JSON value, checked by the worker that runs it.</summary>
    private string Arguments(TaskSubmission submission) =>
        RequireType(submission.Type)
            ? registry.Validate(submission.Type, submission.Args)
            : TaskHandlerRegistry.ParseAny(submission.Args).GetRawText();

    /// <summary>True for a type the silos have a handler for; false for a well-formed name left to <see cref="RequireServedAsync"/>.</summary>
    private bool RequireType(string? type)
    {
        if (registry.Find(type) is not null)
        {
            return true;
        }

        Guard.Name(type, "type", Limits.Scheduling.MaxTaskTypeLength);
        return false;
    }

    private static IEnumerable<(string Queue, string Type)> TypesOf(TaskSubmission submission)
    {
        var own = submission.Queue ?? SchedulingOptions.DefaultQueue;
        return new[] { (own, submission.Type) }.Concat((submission.Then ?? []).Select(s => (s.Queue ?? own, s.Type)));
    }
}

/// <summary>A submission that passed <see cref="TaskSubmissionValidator.Validate"/>.</summary>
/// <param name="Queue">Its queue.</param>
/// <param name="Args">Its arguments in canonical JSON.</param>
/// <param name="Eta">Not dispatched before this (from the ETA or the delay, whichever is later).</param>
public readonly record struct ValidatedSubmission(string Queue, string Args, DateTimeOffset? Eta);
