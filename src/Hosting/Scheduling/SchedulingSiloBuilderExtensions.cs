using Granary.Client;
using Granary.Client.Configuration;
using Granary.Scheduling;
using Granary.Scheduling.Handlers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Granary.Server.Scheduling;

/// <summary>Registers the worker schedulers on a silo.</summary>
/// <example><code>silo.AddGranaryScheduling(configuration);</code></example>
public static class SchedulingSiloBuilderExtensions
{
    /// <summary>Options from <c>Granary:Scheduling</c> (validated), the handler registry (the demonstration handlers only with <c>DemoHandlers</c>), the submission rules, the run journal (unless one is registered already) and the per-silo keeper.</summary>
    public static ISiloBuilder AddGranaryScheduling(this ISiloBuilder silo, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        if (!silo.Services.AddOnce(nameof(AddGranaryScheduling)))
        {
            return silo;
        }

        var options = ValidatedOptions.Bind<SchedulingOptions, SchedulingOptionsValidator>(silo.Services, configuration, SchedulingOptions.SectionName);
        // Without the demonstration handlers the silo has none: its own workers would have nothing to run.
        silo.Services.AddSingleton(_ => options.DemoHandlers
            ? TaskHandlerRegistry.CreateDefault(new GroceryHandlerOptions
            {
                PickDuration = TimeSpan.FromMilliseconds(options.Grocery.PickDurationMs),
                PickFailureRate = options.Grocery.PickFailureRate,
                AssignDuration = TimeSpan.FromMilliseconds(options.Grocery.AssignDurationMs),
                AssignFailureRate = options.Grocery.AssignFailureRate,
            })
            : new TaskHandlerRegistry([]));
        silo.Services.TryAddSingleton<ITaskRunJournal>(sp => string.IsNullOrWhiteSpace(options.RunJournalDirectory)
            ? NoTaskRunJournal.Instance
            : new FileTaskRunJournal(options.RunJournalDirectory, sp.GetRequiredService<ILocalSiloDetails>().SiloAddress.ToParsableString()));
        silo.Services.AddSingleton<TaskSubmissionValidator>();
        silo.Services.AddHostedService<SchedulingKeeper>();
        silo.Services.AddSingleton<SchedulingMetrics>();
        return silo;
    }
}
