namespace Granary.Hosting.Security;

/// <summary>
/// The silo's outgoing call filter: every call this silo makes to a grain or a system target (from a
/// grain, a timer, a reminder, a system target, a hosted service or the silo's own in-process client)
/// carries the <see cref="ClusterProof"/>; a call to a client or a client's observer never does, even
/// when the ambient request context holds one (an activation's start-up runs in the context of the call
/// that activated it). The proof is set inside this filter's own async scope, so the caller's context
/// never holds it after the call.
/// </summary>
public sealed class ClusterProofStamp(ClusterProof proof) : IOutgoingGrainCallFilter
{
    /// <inheritdoc/>
    public async Task Invoke(IOutgoingGrainCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.TargetId.IsClient())
        {
            RequestContext.Remove(ClusterProof.RequestContextKey);
        }
        else
        {
            RequestContext.Set(ClusterProof.RequestContextKey, proof.Value);
        }

        await context.Invoke();
    }
}
