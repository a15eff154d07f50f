using System.Globalization;
using Granary.Errors;
using Granary.Server.Diagnostics;
using Granary.Server.Options;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Polly;
using Polly.Retry;

namespace Granary.Server.Storage;

/// <summary>
/// The one retry policy of Granary's PostgreSQL stores (grain state reads and writes, queue and
/// cache rows, start-up schema): a Polly retry pipeline built from <see cref="StorageRetryOptions"/>.
/// An operation that fails with a transient error (<see cref="IsTransient"/>: a terminated, refused
/// or broken connection, a server shutting down or starting, a serialization failure or deadlock)
/// runs again after an exponential, jittered delay; when the retries are used up, the call fails
/// with <see cref="ServiceUnavailableException"/> (<c>UNAVAILABLE</c>), whose message names the
/// cause. Other errors pass through at once.
/// </summary>
/// <remarks>
/// Only operations that are safe to run twice go through it. A transient error can come after the
/// server committed (the connection dropped before the answer arrived), so every write the stores
/// retry is guarded: grain state writes carry the version they read, so a repeat after a commit
/// changes nothing and reports a version conflict; queue messages are rows keyed by partition and
/// sequence, so a repeat cannot store a message twice; everything else (acks, lease updates, cache rows, epoch bumps)
/// sets values and is idempotent. A retry therefore never applies a change twice; at worst it turns
/// a lost answer into an error for a change that did happen, which the caller's own retry then sees.
/// On a broken connection the store's idle pooled connections are dropped before the next attempt
/// (after a server restart every one of them is dead).
/// <code>
/// var rows = await retry.ExecuteAsync("queue open q/0", ct => ReadRowsAsync(ct), source.Clear, cancellationToken);
/// </code>
/// </remarks>
public sealed class StorageRetryPolicy
{
    private static readonly ResiliencePropertyKey<Action?> BrokenConnectionKey = new("granary.storage.broken-connection");
    private static readonly ResiliencePropertyKey<string> OperationKey = new("granary.storage.operation");

    private readonly ResiliencePipeline _pipeline;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;

    /// <summary>Builds the pipeline.</summary>
    /// <param name="options">Retries and delays (validated at start-up).</param>
    /// <param name="logger">Where retries and give-ups are logged.</param>
    /// <param name="time">The clock of the delays (a fake one in tests).</param>
    public StorageRetryPolicy(StorageRetryOptions options, ILogger? logger = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        _logger = logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        var builder = new ResiliencePipelineBuilder { TimeProvider = _time };
        if (options.MaxRetries > 0)
        {
            builder.AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(IsTransient),
                MaxRetryAttempts = options.MaxRetries,
                Delay = options.BaseDelay,
                MaxDelay = options.MaxDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                OnRetry = args =>
                {
                    var operation = args.Context.Properties.GetValue(OperationKey, "storage operation");
                    if (args.Outcome.Exception is { } failure && IsBrokenConnection(failure))
                    {
                        args.Context.Properties.GetValue(BrokenConnectionKey, null)?.Invoke();
                    }

                    HostingLog.StorageRetry(_logger, operation, args.AttemptNumber + 1, args.RetryDelay.TotalMilliseconds, Describe(args.Outcome.Exception));
                    return default;
                },
            });
        }

        _pipeline = builder.Build();
    }

    /// <summary>The policy with default options, for stores made outside a silo (tools, tests).</summary>
    public static StorageRetryPolicy Default { get; } = new(new StorageRetryOptions());

    /// <summary>The options it was built from.</summary>
    public StorageRetryOptions Options { get; }

    /// <summary>
    /// True for an error after which the same statement may succeed: any <see cref="NpgsqlException"/>
    /// Npgsql marks transient (I/O and socket errors, timeouts, SQLSTATE classes 08 and 53, 57P01-57P03
    /// shutdowns, 40001 serialization failure, 40P01 deadlock, 55P03 lock not available), found
    /// anywhere in the exception's chain (providers may wrap it).
    /// </summary>
    public static bool IsTransient(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is NpgsqlException { IsTransient: true })
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Runs <paramref name="operation"/>, retrying transient failures; see the class remarks for what may be run.</summary>
    /// <param name="name">What is being done, for logs and the error message (e.g. "grain state read on shard-0").</param>
    /// <param name="operation">The work; it gets the call's cancellation token.</param>
    /// <param name="onBrokenConnection">Called before a retry that follows a broken connection: drop the idle pooled connections.</param>
    /// <param name="cancellationToken">Stops the retries (and is passed to each attempt).</param>
    /// <exception cref="ServiceUnavailableException">Every attempt failed with a transient error.</exception>
    public async Task<T> ExecuteAsync<T>(string name, Func<CancellationToken, ValueTask<T>> operation, Action? onBrokenConnection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(operation);
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(OperationKey, name);
        context.Properties.Set(BrokenConnectionKey, onBrokenConnection);
        var started = _time.GetTimestamp();
        var attempts = 0;
        try
        {
            return await _pipeline.ExecuteAsync(
                (ctx, work) =>
                {
                    attempts++;
                    return work(ctx.CancellationToken);
                },
                context,
                operation).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsTransient(ex))
        {
            if (IsBrokenConnection(ex))
            {
                onBrokenConnection?.Invoke();
            }

            var elapsed = _time.GetElapsedTime(started);
            HostingLog.StorageUnavailable(_logger, ex, name, attempts, elapsed.TotalMilliseconds);
            throw new ServiceUnavailableException(string.Create(
                CultureInfo.InvariantCulture,
                $"storage unavailable: {name} failed {attempts} time(s) over {elapsed.TotalSeconds:0.0} s; last error: {Describe(ex)}"));
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <inheritdoc cref="ExecuteAsync{T}(string, Func{CancellationToken, ValueTask{T}}, Action?, CancellationToken)"/>
    public Task ExecuteAsync(string name, Func<CancellationToken, ValueTask> operation, Action? onBrokenConnection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(operation);
        return ExecuteAsync<bool>(
            name,
            async ct =>
            {
                await operation(ct).ConfigureAwait(false);
                return true;
            },
            onBrokenConnection,
            cancellationToken);
    }

    /// <summary>Drops the idle pooled connections of a connection string (used by providers that open their own).</summary>
    public static Action ClearPoolOf(string connectionString) => () =>
    {
        using var connection = new NpgsqlConnection(connectionString);
        NpgsqlConnection.ClearPool(connection);
    };

    /// <summary>"57P01: terminating connection due to administrator command", or the exception's type and message.</summary>
    public static string Describe(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is PostgresException pg)
            {
                return pg.SqlState + ": " + pg.MessageText;
            }
        }

        if (exception is null)
        {
            return "(none)";
        }

        var inner = exception.InnerException is { } cause ? $" ({cause.GetType().Name}: {cause.Message})" : string.Empty;
        return exception.GetType().Name + ": " + exception.Message + inner;
    }

    /// <summary>The connection itself failed (I/O error, server shut down or restarting): other pooled ones are likely dead too.</summary>
    private static bool IsBrokenConnection(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is PostgresException pg)
            {
                return pg.SqlState.StartsWith("57P", StringComparison.Ordinal) || pg.SqlState.StartsWith("08", StringComparison.Ordinal);
            }

            if (e is NpgsqlException)
            {
                return true;
            }
        }

        return false;
    }
}
