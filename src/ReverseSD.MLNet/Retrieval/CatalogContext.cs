using System.Reflection;
using Microsoft.ML;

namespace ReverseSD.MLNet.Retrieval;

/// <summary>
/// Finds the <see cref="MLContext"/> behind an ML.NET catalog. ML.NET keeps a catalog's environment internal; every catalog
/// reached from an MLContext (ml.Transforms, ml.Regression.Trainers, ...) holds that MLContext as its environment.
/// </summary>
internal static class CatalogContext
{
    public static MLContext Of(object catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        for (var type = catalog.GetType(); type != null; type = type.BaseType)
        {
            var property = type.GetProperty("Environment", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.DeclaredOnly);
            if (property?.GetValue(catalog) is MLContext ml) return ml;
        }
        throw new InvalidOperationException($"Cannot find the MLContext behind {catalog.GetType().Name}; reach this catalog from an MLContext.");
    }
}
