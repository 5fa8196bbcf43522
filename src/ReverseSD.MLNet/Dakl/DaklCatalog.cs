using Microsoft.ML;

namespace ReverseSD.MLNet.Dakl;

/// <summary>Catalog entry of DAKL, the domain-adaptive kernel meta-regression.</summary>
public static class DaklCatalog
{
    /// <summary>DAKL meta-regression on the ensemble embedding (paper §3, Eq. 5–7); see <see cref="DomainAdaptiveKernelEstimator"/>.</summary>
    public static DomainAdaptiveKernelEstimator DomainAdaptiveKernel(
        this RegressionCatalog.RegressionTrainers catalog,
        IDataView? targetDomainData,
        string inputColumnName = ColumnNames.EnsembleEmbedding,
        string labelColumnName = ColumnNames.PromptEmbedding,
        string outputColumnName = ColumnNames.PredictedEmbedding,
        int numberOfCentroids = DomainAdaptiveKernelOptions.Defaults.NumberOfCentroids,
        float gamma = DomainAdaptiveKernelOptions.Defaults.Gamma,
        float alpha = DomainAdaptiveKernelOptions.Defaults.Alpha)
        => catalog.DomainAdaptiveKernel(new DomainAdaptiveKernelOptions
        {
            TargetDomainData = targetDomainData,
            InputColumnName = inputColumnName,
            LabelColumnName = labelColumnName,
            OutputColumnName = outputColumnName,
            NumberOfCentroids = numberOfCentroids,
            Gamma = gamma,
            Alpha = alpha,
        });

    /// <summary>DAKL meta-regression with explicit options.</summary>
    public static DomainAdaptiveKernelEstimator DomainAdaptiveKernel(this RegressionCatalog.RegressionTrainers catalog, DomainAdaptiveKernelOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new DomainAdaptiveKernelEstimator(CatalogContext.Of(catalog), options);
    }
}
