using Microsoft.ML;

namespace ReverseSD.MLNet.Heads;

/// <summary>Catalog entry points of the prompt-embedding heads trainer.</summary>
public static class HeadsCatalog
{
    /// <summary>
    /// Trains the embedding and vocabulary heads (paper §3) on "ImageFeatures" with the "Prompt" text as label (or a target
    /// embedding column with "VocabularyLabels").
    /// </summary>
    public static PromptEmbeddingHeadsTrainer PromptEmbeddingHeads(this RegressionCatalog.RegressionTrainers catalog,
        HeadConfiguration configuration = PromptEmbeddingHeadsTrainer.Defaults.Configuration,
        float vocabularyWeight = PromptEmbeddingHeadsTrainer.Defaults.VocabularyWeight,
        int numberOfEpochs = PromptEmbeddingHeadsTrainer.Defaults.NumberOfEpochs,
        double learningRate = PromptEmbeddingHeadsTrainer.Defaults.LearningRate,
        int batchSize = PromptEmbeddingHeadsTrainer.Defaults.BatchSize,
        int seed = PromptEmbeddingHeadsTrainer.Defaults.Seed,
        string featureColumnName = ColumnNames.ImageFeatures, string labelColumnName = ColumnNames.Prompt,
        string vocabularyLabelsColumnName = ColumnNames.VocabularyLabels, string outputColumnName = ColumnNames.PredictedEmbedding)
        => PromptEmbeddingHeads(catalog, new PromptEmbeddingHeadsTrainer.Options
        {
            Configuration = configuration,
            VocabularyWeight = vocabularyWeight,
            NumberOfEpochs = numberOfEpochs,
            LearningRate = learningRate,
            BatchSize = batchSize,
            Seed = seed,
            FeatureColumnName = featureColumnName,
            LabelColumnName = labelColumnName,
            VocabularyLabelsColumnName = vocabularyLabelsColumnName,
            OutputColumnName = outputColumnName,
        });

    /// <summary>
    /// Trains the embedding and vocabulary heads with all <paramref name="options"/> (copied here); <paramref name="progress"/>
    /// receives one report per epoch and <paramref name="cancellationToken"/> cancels training between batches.
    /// </summary>
    public static PromptEmbeddingHeadsTrainer PromptEmbeddingHeads(this RegressionCatalog.RegressionTrainers catalog,
        PromptEmbeddingHeadsTrainer.Options options, IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        return new PromptEmbeddingHeadsTrainer(CatalogContext.Of(catalog), options, progress, cancellationToken);
    }
}
