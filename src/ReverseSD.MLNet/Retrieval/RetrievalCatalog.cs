using Microsoft.ML;

namespace ReverseSD.MLNet.Retrieval;

/// <summary>Catalog entries of the retrieval stages: kNN regression and prompt bank lookup.</summary>
public static class RetrievalCatalog
{
    /// <summary>kNN regression of the prompt embedding from a feature space (paper §4.10); see <see cref="NearestNeighborRegressionEstimator"/>.</summary>
    public static NearestNeighborRegressionEstimator NearestNeighborRegression(
        this RegressionCatalog.RegressionTrainers catalog,
        string featureColumnName = ColumnNames.ImageFeatures,
        string labelColumnName = ColumnNames.PromptEmbedding,
        string outputColumnName = ColumnNames.PredictedEmbedding,
        int numberOfNeighbors = NearestNeighborRegressionOptions.Defaults.NumberOfNeighbors,
        NeighborWeighting weighting = NeighborWeighting.Similarity,
        float temperature = NearestNeighborRegressionOptions.Defaults.Temperature)
        => catalog.NearestNeighborRegression(new NearestNeighborRegressionOptions
        {
            FeatureColumnName = featureColumnName,
            LabelColumnName = labelColumnName,
            OutputColumnName = outputColumnName,
            NumberOfNeighbors = numberOfNeighbors,
            Weighting = weighting,
            Temperature = temperature,
        });

    /// <summary>kNN regression of the prompt embedding with explicit options.</summary>
    public static NearestNeighborRegressionEstimator NearestNeighborRegression(this RegressionCatalog.RegressionTrainers catalog, NearestNeighborRegressionOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new NearestNeighborRegressionEstimator(CatalogContext.Of(catalog), options);
    }

    /// <summary>The k nearest prompts of a prompt bank to a predicted embedding; see <see cref="NearestPromptsEstimator"/>.</summary>
    public static NearestPromptsEstimator NearestPrompts(
        this TransformsCatalog catalog,
        IDataView promptBank,
        string inputColumnName = ColumnNames.PredictedEmbedding,
        int numberOfPrompts = NearestPromptsOptions.Defaults.NumberOfPrompts,
        string promptsColumnName = NearestPromptsOptions.Defaults.PromptsColumnName,
        string scoresColumnName = NearestPromptsOptions.Defaults.ScoresColumnName)
        => catalog.NearestPrompts(promptBank, new NearestPromptsOptions
        {
            InputColumnName = inputColumnName,
            NumberOfPrompts = numberOfPrompts,
            PromptsColumnName = promptsColumnName,
            ScoresColumnName = scoresColumnName,
        });

    /// <summary>Prompt bank lookup with explicit options.</summary>
    public static NearestPromptsEstimator NearestPrompts(this TransformsCatalog catalog, IDataView promptBank, NearestPromptsOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new NearestPromptsEstimator(CatalogContext.Of(catalog), promptBank, options);
    }
}
