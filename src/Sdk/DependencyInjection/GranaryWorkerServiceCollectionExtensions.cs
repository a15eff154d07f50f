using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.DependencyInjection;

namespace Granary.Client.DependencyInjection;

/// <summary>A task type the application implements; runs in the application's own worker process.</summary>
/// <typeparam name="TArguments">The task's arguments, read with a source-generated JSON context.</typeparam>
/// <typeparam name="TResult">The task's result, written with a source-generated JSON context.</typeparam>
public interface ITaskHandler<TArguments, TResult>
{
    /// <summary>Runs one task. An exception fails this attempt (retried as the task's retry policy says).</summary>
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
/// <example><code>
/// builder.Services.AddGranaryClient(builder.Configuration);
/// builder.Services.AddTaskHandler&lt;PickOrder, PickRequest, PickResult&gt;("pick-order", Json.Default.PickRequest, Json.Default.PickResult);
/// builder.Services.AddGranaryWorker("orders", concurrency: 4);
/// </code></example>
public static class GranaryWorkerServiceCollectionExtensions
{
    /// <summary>Registers <typeparamref name="THandler"/> for tasks of type <paramref name="taskType"/>.</summary>
    public static IServiceCollection AddTaskHandler<THandler, TArguments, TResult>(this IServiceCollection services, string taskType, JsonTypeInfo<TArguments> arguments, JsonTypeInfo<TResult> result)
        where THandler : class, ITaskHandler<TArguments, TResult> =>
        throw new NotImplementedException("skeleton: implemented by the worker work");

    /// <summary>Registers a delegate for tasks of type <paramref name="taskType"/>.</summary>
    public static IServiceCollection AddTaskHandler<TArguments, TResult>(this IServiceCollection services, string taskType, Func<TArguments, CancellationToken, ValueTask<TResult>> handler, JsonTypeInfo<TArguments> arguments, JsonTypeInfo<TResult> result) =>
        throw new NotImplementedException("skeleton: implemented by the worker work");

    /// <summary>Runs a worker (an <c>IHostedService</c>) that serves <paramref name="queue"/> with the registered handlers, at most <paramref name="concurrency"/> tasks at once; declares the queue.</summary>
    public static IServiceCollection AddGranaryWorker(this IServiceCollection services, string queue, int concurrency) =>
        throw new NotImplementedException("skeleton: implemented by the worker work");

    /// <summary>Runs <typeparamref name="TConsumer"/> (an <c>IHostedService</c>) over the message queue <paramref name="queue"/>, at most <paramref name="concurrency"/> messages at once.</summary>
    public static IServiceCollection AddQueueConsumer<TConsumer, TMessage>(this IServiceCollection services, string queue, JsonTypeInfo<TMessage> message, int concurrency)
        where TConsumer : class, IQueueConsumer<TMessage> =>
        throw new NotImplementedException("skeleton: implemented by the worker work");
}
