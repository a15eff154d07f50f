using Granary.Security;
using Granary.Server.Security;
using Microsoft.Extensions.DependencyInjection;

namespace Granary.Bench.Transactions.Peer;

/// <summary>
/// What a silo needs to host the Orleans.Transactions peer: its transaction runtime
/// (<c>UseTransactions</c>), and the peer's client-facing methods opened to clients with the
/// permission each one's <see cref="RequiresAttribute"/> names (a silo refuses clients every method of
/// an interface outside the Granary contracts that <see cref="ClientOpenOrleansCalls"/> does not
/// list). The peer's grains come with this assembly; the bench tool's embedded silo and its
/// <c>silo</c> mode both add this.
/// </summary>
public static class OrleansTransactionsPeerSilo
{
    /// <summary>Adds the Orleans.Transactions runtime and opens the peer's client methods on <paramref name="silo"/>.</summary>
    public static void AddTo(ISiloBuilder silo)
    {
        ArgumentNullException.ThrowIfNull(silo);
        silo.UseTransactions();
        silo.Services.Configure<ClientOpenOrleansCalls>(open =>
        {
            foreach (var type in new[] { typeof(IOrleansTxAccountGrain), typeof(IOrleansTxTransferGrain) })
            {
                foreach (var method in type.GetMethods())
                {
                    // Deposit and withdraw stay internal: only the transfer grain calls them, inside the silos.
                    if (GrainPermissions.Of(method) is { } permission && permission != Permission.Internal)
                    {
                        open.Methods[$"{type.FullName}.{method.Name}"] = permission;
                    }
                }
            }
        });
    }
}
