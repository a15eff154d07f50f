namespace Granary.Client.Security;

/// <summary>
/// The client's side of identities: puts the client's token in the request context of every call
/// it makes (the silo's check takes it out again before the grain runs). Set inside this
/// asynchronous method, the value does not leak into the caller's own context.
/// </summary>
/// <param name="token">The token.</param>
public sealed class ClientCredentialFilter(string token) : IOutgoingGrainCallFilter
{
    /// <inheritdoc/>
    public async Task Invoke(IOutgoingGrainCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        RequestContext.Set(ClientCredentials.TokenKey, token);
        await context.Invoke();
    }
}
