using System.Runtime.CompilerServices;
using Granary.Errors;
using Granary.Server.Storage;
using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace Granary.Server.Diagnostics;

/// <summary>
/// The outermost call filter of every <c>granary.*</c> grain: whatever escapes a grain method leaves
/// it as a <see cref="GranaryException"/>, so a caller always gets a typed, serialisable error with a
/// stable code, never a type it cannot deserialise (a database driver's exception inside an
/// <see cref="OrleansException"/> used to reach clients as <c>CodecNotFoundException</c>). See
/// <see cref="ToWire"/> for the mapping. Activation failures do not pass through call filters; the
/// grain state wrapper (<see cref="GranaryPersistentStateFactory"/>) and the stores' own errors
/// (<see cref="StorageRetryPolicy"/>) make those typed too.
/// </summary>
public sealed class WireErrorFilter(ILogger<WireErrorFilter> logger) : IIncomingGrainCallFilter
{
    // State write failures of an activation's own state (see GranaryPersistentState): Orleans
    // deactivates an activation whose InconsistentStateException escapes a call, and this filter
    // keeps that by deactivating it itself before it turns the exception into a typed error.
    private static readonly ConditionalWeakTable<InconsistentStateException, IGrainContext> OwnStateConflicts = [];

    /// <inheritdoc/>
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        try
        {
            await context.Invoke();
        }
        catch (Exception ex) when (ex is not GranaryException && IsGranaryGrain(context.TargetId))
        {
            if (ex is InconsistentStateException conflict && OwnStateConflicts.TryGetValue(conflict, out var activation))
            {
                OwnStateConflicts.Remove(conflict);
                activation.Deactivate(new DeactivationReason(DeactivationReasonCode.ApplicationError, "its stored state changed under it: " + conflict.Message));
            }

            var typed = ToWire(ex, $"{context.TargetId}.{context.MethodName}");
            if (typed.Code == ErrorCodes.Internal)
            {
                HostingLog.UnexpectedGrainError(logger, ex, context.TargetId.ToString(), context.MethodName);
            }

            throw typed;
        }
    }

    /// <summary>
    /// The typed error a caller gets for <paramref name="exception"/>: a <see cref="GranaryException"/>
    /// anywhere in its chain (Orleans wraps storage errors in an <see cref="OrleansException"/>) as is;
    /// transient storage errors, a state write that lost to another writer
    /// (<see cref="InconsistentStateException"/>), timeouts and unreachable silos inside the cluster,
    /// cancellation and shutdown as <see cref="ServiceUnavailableException"/> (<c>UNAVAILABLE</c>,
    /// retryable); anything else as <c>INTERNAL</c> naming the exception's type and message. The
    /// result never carries an inner exception (its type might have no codec).
    /// </summary>
    /// <param name="exception">What escaped.</param>
    /// <param name="where">The grain and method, for the message.</param>
    public static GranaryException ToWire(Exception exception, string where)
    {
        ArgumentNullException.ThrowIfNull(exception);
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is GranaryException granary)
            {
                return granary;
            }
        }

        return exception switch
        {
            _ when StorageRetryPolicy.IsTransient(exception) =>
                new ServiceUnavailableException($"{where}: storage unavailable: {StorageRetryPolicy.Describe(exception)}"),
            InconsistentStateException =>
                new ServiceUnavailableException($"{where}: the grain's stored state was changed by another activation, or the answer to its last write was lost; it reloads from storage: retry ({exception.Message})"),
            TimeoutException or SiloUnavailableException or OrleansMessageRejectionException =>
                new ServiceUnavailableException($"{where}: a call inside the cluster failed, its outcome unknown ({exception.GetType().Name}: {exception.Message}); retry"),
            OperationCanceledException or ObjectDisposedException =>
                new ServiceUnavailableException($"{where}: the grain or its silo is shutting down ({exception.GetType().Name}); retry"),
            _ => new GranaryException(ErrorCodes.Internal, $"{where}: {exception.GetType().Name}: {exception.Message}"),
        };
    }

    /// <summary>Remembers that <paramref name="conflict"/> came from <paramref name="activation"/>'s own state write.</summary>
    internal static void MarkOwnStateConflict(InconsistentStateException conflict, IGrainContext activation) =>
        OwnStateConflicts.AddOrUpdate(conflict, activation);

    /// <summary>True for the grains of Granary's families (grain types <c>granary.*</c>).</summary>
    internal static bool IsGranaryGrain(GrainId id) =>
        id.Type.ToString()?.StartsWith("granary.", StringComparison.Ordinal) == true;
}
