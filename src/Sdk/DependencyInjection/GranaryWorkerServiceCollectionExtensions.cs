using System.Text.Json.Serialization.Metadata;
using Granary.Client.Queues;
using Granary.Client.Scheduling;
using Granary.Scheduling;
using Granary.Scheduling.Handlers;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Granary.Client.DependencyInjection;

/// <summary>A task type the application implements; runs in the application's own worker process.</summary>
/// <typeparam name="TArguments">The task's arguments, read with a source-generated JSON context.</typeparam>
/// <typeparam name="TResult">The task's result, written with a source-generated JSON context.</typeparam>
public interface ITaskHandler<TArguments, TResult>
{
    /// <summary>
    /// Runs one task. An exception fails this attempt (retried as the task's retry policy says, then
    /// dead-lettered); <see cref="PermanentTaskException"/> fails the task at once, without retries.
    /// The token is cancelled at the task's time limit, when the task is cancelled or its lease is lost.
    /// </summary>
    ValueTask<TResult> HandleAsync(TArguments arguments, CancellationToken cancellationToken);
}

/// <summary>A queue consumer the application implements: ack on success, nack with backoff on exception.</summary>
/// <typeparam name="TMessage">The message body, read with a source-generated JSON context.</typeparam>
public interface IQueueConsumer<TMessage>
{
    /// <summary>Handles one message.</summary>
    Task HandleAsync(TMessage message, CancellationToken cancellationToken);
}

/// <summary>Task handlers, workers and queue consumers hosted in the application's process.</summary>
/// <remarks>
/// A worker declares its queue and the task types it has handlers for; from then on the queue accepts
/// tasks of those types (a type no silo and no worker of the queue knows is refused at submission).
/// Arguments are one JSON value of <c>TArguments</c> (a chain step gets <c>[previous result, ...its
/// arguments]</c>); arguments that do not read as <c>TArguments</c> fail the task at once.
/// </remarks>
/// <example><code>
/// builder.Services.AddGranaryClient(builder.Configuration);
/// builder.Services.AddTaskHandler&lt;PickOrder, PickRequest, PickResult&gt;("pick-order", Json.Default.PickRequest, Json.Default.PickResult);
/// builder.Services.AddGranaryWorker("orders", concurrency: 4);
/// </code></example>
public static class GranaryWorkerServiceCollectionExtensions
{
    /// <summary>Registers <typeparamref name="THandler"/> (scoped: one per run) for tasks of type <paramref name="taskType"/>.</summary>
    public static IServiceCollection AddTaskHandler<THandler, TArguments, TResult>(this IServiceCollection services, string taskType, JsonTypeInfo<TArguments> arguments, JsonTypeInfo<TResult> result)
        where THandler : class, ITaskHandler<TArguments, TResult>
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddScoped<THandler>();
        return AddHandler(services, taskType, arguments, result, static (sp, args, ct) => sp.GetRequiredService<THandler>().HandleAsync(args, ct));
    }

    /// <summary>Registers a delegate for tasks of type <paramref name="taskType"/>.</summary>
    public static IServiceCollection AddTaskHandler<TArguments, TResult>(this IServiceCollection services, string taskType, Func<TArguments, CancellationToken, ValueTask<TResult>> handler, JsonTypeInfo<TArguments> arguments, JsonTypeInfo<TResult> result)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return AddHandler(services, taskType, arguments, result, (_, args, ct) => handler(args, ct));
    }

    /// <summary>Runs a worker (an <c>IHostedService</c>) that serves <paramref name="queue"/> with the registered handlers, at most <paramref name="concurrency"/> tasks at once; declares the queue.</summary>
    public static IServiceCollection AddGranaryWorker(this IServiceCollection services, string queue, int concurrency) =>
        AddGranaryWorker(services, queue, concurrency, configure: null);

    /// <summary>
    /// Runs a worker (an <c>IHostedService</c>) that serves <paramref name="queue"/> with the registered
    /// handlers, at most <paramref name="concurrency"/> tasks at once; declares the queue and the task
    /// types. Needs an Orleans client in the same container (<c>AddGranaryClient</c>).
    /// </summary>
    public static IServiceCollection AddGranaryWorker(this IServiceCollection services, string queue, int concurrency, Action<GranaryWorkerOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        TaskQueueName.Check(queue);
        ArgumentOutOfRangeException.ThrowIfLessThan(concurrency, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(concurrency, 10_000);
        var options = new GranaryWorkerOptions();
        configure?.Invoke(options);
        options.Validate();
        services.TryAddSingleton(TimeProvider.System);

        // Not AddHostedService: one worker per queue may be added, and that would keep only the first.
        services.AddSingleton<IHostedService>(sp => new GranaryWorker(
            sp.GetRequiredService<IGrainFactory>(),
            new TaskHandlerRegistry(sp.GetServices<TaskHandlerRegistration>().Select(r => r.Create(sp))),
            queue,
            concurrency,
            options,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<GranaryWorker>>()));
        return services;
    }

    /// <summary>Runs <typeparamref name="TConsumer"/> (an <c>IHostedService</c>) over the message queue <paramref name="queue"/>, at most <paramref name="concurrency"/> messages at once.</summary>
    public static IServiceCollection AddQueueConsumer<TConsumer, TMessage>(this IServiceCollection services, string queue, JsonTypeInfo<TMessage> message, int concurrency)
        where TConsumer : class, IQueueConsumer<TMessage> =>
        AddQueueConsumer<TConsumer, TMessage>(services, queue, message, concurrency, configure: null);

    /// <summary>
    /// Runs <typeparamref name="TConsumer"/> (scoped: one per message; an <c>IHostedService</c> drives it)
    /// over the message queue <paramref name="queue"/>, at most <paramref name="concurrency"/> messages at
    /// once: ack when it returns, nack with exponential backoff when it throws (the queue redelivers the
    /// message, and dead-letters it past its delivery limit). The queue must exist.
    /// </summary>
    public static IServiceCollection AddQueueConsumer<TConsumer, TMessage>(this IServiceCollection services, string queue, JsonTypeInfo<TMessage> message, int concurrency, Action<QueueConsumerOptions>? configure)
        where TConsumer : class, IQueueConsumer<TMessage>
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(message);
        Granary.Errors.Guard.Name(queue, nameof(queue));
        ArgumentOutOfRangeException.ThrowIfLessThan(concurrency, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(concurrency, Limits.MaxBatchSize);
        var options = new QueueConsumerOptions();
        configure?.Invoke(options);
        options.Validate();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddScoped<TConsumer>();
        services.AddSingleton<IHostedService>(sp => new QueueConsumerService<TConsumer, TMessage>(
            sp.GetService<QueueClient>() ?? new QueueClient(sp.GetRequiredService<IGrainFactory>()),
            sp,
            queue,
            message,
            concurrency,
            options,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<QueueConsumerService<TConsumer, TMessage>>>()));
        return services;
    }

    private static IServiceCollection AddHandler<TArguments, TResult>(IServiceCollection services, string taskType, JsonTypeInfo<TArguments> arguments, JsonTypeInfo<TResult> result, Func<IServiceProvider, TArguments, CancellationToken, ValueTask<TResult>> handle)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(result);
        Granary.Errors.Guard.Name(taskType, nameof(taskType), Limits.Scheduling.MaxTaskTypeLength);
        if (services.Any(d => d.ImplementationInstance is TaskHandlerRegistration r && string.Equals(r.Type, taskType, StringComparison.Ordinal)))
        {
            throw new InvalidOperationException($"A handler for task type '{taskType}' is registered already.");
        }

        services.AddSingleton(new TaskHandlerRegistration(taskType, sp => new TypedTaskHandler<TArguments, TResult>(taskType, handle, arguments, result, sp)));
        return services;
    }
}
