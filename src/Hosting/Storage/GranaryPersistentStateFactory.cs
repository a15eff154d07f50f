using System.Runtime.ExceptionServices;
using Granary.Errors;
using Granary.Server.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Core;
using Orleans.Storage;

namespace Granary.Server.Storage;

/// <summary>
/// Makes the <c>[PersistentState]</c> of Granary's grains report storage failures with the stores'
/// own typed errors. Orleans wraps any storage exception that is not an <see cref="OrleansException"/>
/// in one, and when the failing read is the one that activates the grain, that wrapper (with the
/// driver's exception inside) is what every waiting caller receives; a type without a codec then
/// reached clients as <c>CodecNotFoundException</c>. The state objects made here unwrap a
/// <see cref="GranaryException"/> (such as the stores' <c>UNAVAILABLE</c>) from it, including for
/// the read at activation, which no call filter sees.
/// </summary>
public sealed class GranaryPersistentStateFactory : IPersistentStateFactory
{
    /// <inheritdoc/>
    public IPersistentState<TState> Create<TState>(IGrainContext context, IPersistentStateConfiguration cfg)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(cfg);
        var storage = (string.IsNullOrWhiteSpace(cfg.StorageName)
                ? context.ActivationServices.GetService<IGrainStorage>()
                : context.ActivationServices.GetKeyedService<IGrainStorage>(cfg.StorageName))
            ?? throw new BadProviderConfigException($"No storage provider named \"{cfg.StorageName}\" found loading grain type {context.GrainId.Type}.");
        return new GranaryPersistentState<TState>(cfg.StateName, context, storage);
    }

    /// <summary>
    /// Orleans' state bridge behind the same interface; the state is read at the same lifecycle
    /// stage Orleans reads it (<see cref="GrainLifecycleStage.SetupState"/>). It takes no part in
    /// activation migration (Granary does not migrate grains): a moved activation would read its
    /// state from storage, where every acknowledged change already is.
    /// </summary>
    private sealed class GranaryPersistentState<TState> : IPersistentState<TState>, ILifecycleObserver
    {
        private readonly StateStorageBridge<TState> _bridge;
        private readonly IGrainContext _context;

        public GranaryPersistentState(string stateName, IGrainContext context, IGrainStorage storage)
        {
            _bridge = new StateStorageBridge<TState>(stateName, context, storage);
            _context = context;
            context.ObservableLifecycle.Subscribe("granary-state:" + stateName, GrainLifecycleStage.SetupState, this);
        }

        public TState State
        {
            get => _bridge.State;
            set => _bridge.State = value;
        }

        public string? Etag => _bridge.Etag;

        public bool RecordExists => _bridge.RecordExists;

        public Task ReadStateAsync() => Typed(_bridge.ReadStateAsync());

        public Task WriteStateAsync() => Typed(_bridge.WriteStateAsync());

        public Task ClearStateAsync() => Typed(_bridge.ClearStateAsync());

        public Task OnStart(CancellationToken cancellationToken) =>
            cancellationToken.IsCancellationRequested ? Task.CompletedTask : ReadStateAsync();

        public Task OnStop(CancellationToken cancellationToken) => Task.CompletedTask;

        private Task Typed(Task operation) =>
            operation.IsCompletedSuccessfully ? operation : TypedAsync(operation);

        private async Task TypedAsync(Task operation)
        {
            try
            {
                await operation;
            }
            catch (OrleansException ex) when (ex.InnerException is GranaryException typed)
            {
                ExceptionDispatchInfo.Throw(typed);
            }
            catch (InconsistentStateException conflict)
            {
                // If this escapes the grain's call, Orleans would deactivate the activation; the
                // wire filter turns the exception into a typed one and must deactivate it instead.
                WireErrorFilter.MarkOwnStateConflict(conflict, _context);
                throw;
            }
        }
    }
}
